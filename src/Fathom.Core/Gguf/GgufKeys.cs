namespace Fathom.Gguf;

/// <summary>
/// Well-known GGUF metadata keys, in one place. Architecture-scoped keys take the architecture name
/// (<c>general.architecture</c>) as a prefix: <c>GgufKeys.Llm.BlockCount("llama")</c> is <c>llama.block_count</c>.
/// </summary>
public static class GgufKeys
{
    public static class General
    {
        public const string Architecture = "general.architecture";
        public const string Type = "general.type";
        public const string Name = "general.name";
        public const string Alignment = "general.alignment";
        public const string FileType = "general.file_type";
        public const string QuantizationVersion = "general.quantization_version";
        public const string SizeLabel = "general.size_label";
        public const string Basename = "general.basename";
        public const string License = "general.license";
    }

    public static class Llm
    {
        public static string VocabSize(string arch) => $"{arch}.vocab_size";
        public static string ContextLength(string arch) => $"{arch}.context_length";
        public static string EmbeddingLength(string arch) => $"{arch}.embedding_length";
        public static string BlockCount(string arch) => $"{arch}.block_count";
        public static string FeedForwardLength(string arch) => $"{arch}.feed_forward_length";
        public static string ExpertFeedForwardLength(string arch) => $"{arch}.expert_feed_forward_length";
        public static string ExpertCount(string arch) => $"{arch}.expert_count";
        public static string ExpertUsedCount(string arch) => $"{arch}.expert_used_count";
        public static string ExpertSharedCount(string arch) => $"{arch}.expert_shared_count";
        public static string ExpertWeightsNorm(string arch) => $"{arch}.expert_weights_norm";
    }

    public static class Attention
    {
        public static string HeadCount(string arch) => $"{arch}.attention.head_count";
        public static string HeadCountKv(string arch) => $"{arch}.attention.head_count_kv";
        public static string KeyLength(string arch) => $"{arch}.attention.key_length";
        public static string ValueLength(string arch) => $"{arch}.attention.value_length";
        public static string LayerNormEpsilon(string arch) => $"{arch}.attention.layer_norm_epsilon";
        public static string LayerNormRmsEpsilon(string arch) => $"{arch}.attention.layer_norm_rms_epsilon";
        public static string SlidingWindow(string arch) => $"{arch}.attention.sliding_window";
    }

    public static class Rope
    {
        public static string DimensionCount(string arch) => $"{arch}.rope.dimension_count";
        public static string FreqBase(string arch) => $"{arch}.rope.freq_base";
        public static string ScalingType(string arch) => $"{arch}.rope.scaling.type";
        public static string ScalingFactor(string arch) => $"{arch}.rope.scaling.factor";
        public static string ScalingOriginalContextLength(string arch) => $"{arch}.rope.scaling.original_context_length";
        public static string ScalingAttnFactor(string arch) => $"{arch}.rope.scaling.attn_factor";
        public static string ScalingYarnLogMultiplier(string arch) => $"{arch}.rope.scaling.yarn_log_multiplier";
        public static string ScalingYarnBetaFast(string arch) => $"{arch}.rope.scaling.yarn_beta_fast";
        public static string ScalingYarnBetaSlow(string arch) => $"{arch}.rope.scaling.yarn_beta_slow";
        public static string ScalingYarnExtFactor(string arch) => $"{arch}.rope.scaling.yarn_ext_factor";
    }

    public static class Tokenizer
    {
        public const string Model = "tokenizer.ggml.model";
        public const string Pre = "tokenizer.ggml.pre";
        public const string Tokens = "tokenizer.ggml.tokens";
        public const string TokenType = "tokenizer.ggml.token_type";
        public const string Scores = "tokenizer.ggml.scores";
        public const string Merges = "tokenizer.ggml.merges";
        public const string BosId = "tokenizer.ggml.bos_token_id";
        public const string EosId = "tokenizer.ggml.eos_token_id";
        public const string EotId = "tokenizer.ggml.eot_token_id";
        public const string EomId = "tokenizer.ggml.eom_token_id";
        public const string UnknownId = "tokenizer.ggml.unknown_token_id";
        public const string SeparatorId = "tokenizer.ggml.seperator_token_id";
        public const string PaddingId = "tokenizer.ggml.padding_token_id";
        public const string ClsId = "tokenizer.ggml.cls_token_id";
        public const string MaskId = "tokenizer.ggml.mask_token_id";
        public const string AddBos = "tokenizer.ggml.add_bos_token";
        public const string AddEos = "tokenizer.ggml.add_eos_token";
        public const string AddSep = "tokenizer.ggml.add_sep_token";
        public const string AddSpacePrefix = "tokenizer.ggml.add_space_prefix";
        public const string RemoveExtraWhitespaces = "tokenizer.ggml.remove_extra_whitespaces";
        public const string ChatTemplate = "tokenizer.chat_template";
        public const string FimPreId = "tokenizer.ggml.fim_pre_token_id";
        public const string FimSufId = "tokenizer.ggml.fim_suf_token_id";
        public const string FimMidId = "tokenizer.ggml.fim_mid_token_id";

        /// <summary>A named extra template: <c>tokenizer.chat_template.NAME</c>.</summary>
        public static string NamedChatTemplate(string name) => $"tokenizer.chat_template.{name}";
    }
}
