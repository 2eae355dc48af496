using Fathom.Gguf;

namespace Fathom.Models;

/// <summary>How RoPE positions are rescaled beyond the trained context (GGUF <c>rope.scaling.type</c>).</summary>
public enum RopeScalingType
{
    None,
    Linear,
    Yarn,
}

/// <summary>Which dimensions RoPE rotates together.</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (2i, 2i+1): llama.</summary>
    Normal,

    /// <summary>Halves (i, i + n_rot/2): qwen2, qwen3 (GPT-NeoX).</summary>
    NeoX,
}

/// <summary>
/// A model's hyper-parameters, resolved once from the GGUF metadata with llama.cpp's defaults.
/// Every raw architecture key is read here and nowhere else.
/// </summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public string? Name { get; init; }
    public required int VocabSize { get; init; }

    /// <summary>The context length the model was trained with (n_ctx_train).</summary>
    public required int ContextLength { get; init; }

    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }

    /// <summary>Per-head width of queries and keys.</summary>
    public required int KeyLength { get; init; }

    /// <summary>Per-head width of values.</summary>
    public required int ValueLength { get; init; }

    public required float RmsEpsilon { get; init; }

    /// <summary>Dimensions of each head that RoPE rotates (n_rot).</summary>
    public required int RopeDimensionCount { get; init; }

    public required float RopeFreqBase { get; init; }
    public RopeStyle RopeStyle { get; init; }
    public RopeScalingType RopeScaling { get; init; }

    /// <summary>1 / rope.scaling.factor (1 when unscaled).</summary>
    public float RopeFreqScale { get; init; } = 1f;

    /// <summary>Context length before scaling, for YaRN's correction dimensions.</summary>
    public int RopeOriginalContextLength { get; init; }

    public float YarnExtFactor { get; init; }
    public float YarnAttnFactor { get; init; } = 1f;
    public float YarnBetaFast { get; init; } = 32f;
    public float YarnBetaSlow { get; init; } = 1f;

    /// <summary>Experts per MoE layer; 0 for a dense model.</summary>
    public int ExpertCount { get; init; }
    public int ExpertUsedCount { get; init; }
    public int ExpertFeedForwardLength { get; init; }

    public bool IsMoe => ExpertCount > 0;

    /// <summary>Query heads per key/value head (GQA group size).</summary>
    public int GroupSize => HeadCount / HeadCountKv;

    /// <summary>Reads the configuration of <paramref name="file"/>; the architecture must be registered.</summary>
    public static ModelConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string where = file.Path ?? "GGUF";
        string arch = file.GetStringOrNull(GgufKeys.General.Architecture)
            ?? throw new ModelFormatException($"{where}: no {GgufKeys.General.Architecture} key; supported architectures: {ArchitectureRegistry.SupportedList}");
        var family = ArchitectureRegistry.Resolve(arch, where);

        int embd = Required(file, GgufKeys.Llm.EmbeddingLength(arch), where);
        int heads = Required(file, GgufKeys.Attention.HeadCount(arch), where);
        int headsKv = Optional(file, GgufKeys.Attention.HeadCountKv(arch)) ?? heads;
        if (heads <= 0 || embd <= 0)
            throw new ModelFormatException($"{where}: embedding length {embd} and head count {heads} must be positive");
        if (headsKv <= 0 || heads % headsKv != 0)
            throw new ModelFormatException($"{where}: head count {heads} is not a multiple of the key/value head count {headsKv}");
        int keyLength = Optional(file, GgufKeys.Attention.KeyLength(arch)) ?? embd / heads;
        int valueLength = Optional(file, GgufKeys.Attention.ValueLength(arch)) ?? embd / heads;
        int ctxTrain = Optional(file, GgufKeys.Llm.ContextLength(arch)) ?? 2048;

        var scaling = ParseScaling(file.GetStringOrNull(GgufKeys.Rope.ScalingType(arch)), where);
        float factor = file.GetFloat32OrNull(GgufKeys.Rope.ScalingFactor(arch)) ?? 0f;
        if (scaling == RopeScalingType.None && factor > 0f && factor != 1f && file.GetStringOrNull(GgufKeys.Rope.ScalingType(arch)) is null)
            scaling = RopeScalingType.Linear; // older files carry only the factor
        float freqScale = scaling == RopeScalingType.None || factor <= 0f ? 1f : 1f / factor;

        int experts = Optional(file, GgufKeys.Llm.ExpertCount(arch)) ?? 0;
        int expertsUsed = Optional(file, GgufKeys.Llm.ExpertUsedCount(arch)) ?? 0;
        int ff = Optional(file, GgufKeys.Llm.FeedForwardLength(arch)) ?? 0;
        int expertFf = Optional(file, GgufKeys.Llm.ExpertFeedForwardLength(arch)) ?? ff;
        if (experts > 0 && (expertsUsed <= 0 || expertsUsed > experts))
            throw new ModelFormatException($"{where}: {GgufKeys.Llm.ExpertUsedCount(arch)} = {expertsUsed} must be between 1 and {GgufKeys.Llm.ExpertCount(arch)} = {experts}");

        var config = new ModelConfig
        {
            Architecture = arch,
            Name = file.GetStringOrNull(GgufKeys.General.Name),
            VocabSize = Optional(file, GgufKeys.Llm.VocabSize(arch))
                ?? file.GetArrayLength(GgufKeys.Tokenizer.Tokens)
                ?? (int)(file.FindTensorInfo("token_embd.weight")?.Dimensions is [_, long v, ..] ? v : 0),
            ContextLength = ctxTrain,
            EmbeddingLength = embd,
            BlockCount = Required(file, GgufKeys.Llm.BlockCount(arch), where),
            FeedForwardLength = ff,
            HeadCount = heads,
            HeadCountKv = headsKv,
            KeyLength = keyLength,
            ValueLength = valueLength,
            RmsEpsilon = file.GetFloat32OrNull(GgufKeys.Attention.LayerNormRmsEpsilon(arch)) ?? 1e-5f,
            RopeDimensionCount = Optional(file, GgufKeys.Rope.DimensionCount(arch)) ?? keyLength,
            RopeFreqBase = file.GetFloat32OrNull(GgufKeys.Rope.FreqBase(arch)) ?? 10000f,
            RopeStyle = family.RopeStyle,
            RopeScaling = scaling,
            RopeFreqScale = freqScale,
            RopeOriginalContextLength = Optional(file, GgufKeys.Rope.ScalingOriginalContextLength(arch)) ?? ctxTrain,
            YarnExtFactor = scaling == RopeScalingType.Yarn ? file.GetFloat32OrNull(GgufKeys.Rope.ScalingYarnExtFactor(arch)) ?? 1f : 0f,
            YarnAttnFactor = file.GetFloat32OrNull(GgufKeys.Rope.ScalingAttnFactor(arch)) ?? 1f,
            YarnBetaFast = file.GetFloat32OrNull(GgufKeys.Rope.ScalingYarnBetaFast(arch)) ?? 32f,
            YarnBetaSlow = file.GetFloat32OrNull(GgufKeys.Rope.ScalingYarnBetaSlow(arch)) ?? 1f,
            ExpertCount = experts,
            ExpertUsedCount = expertsUsed,
            ExpertFeedForwardLength = expertFf,
        };
        config.Validate(where);
        return config;
    }

    private void Validate(string where)
    {
        void Positive(int value, string what)
        {
            if (value <= 0)
                throw new ModelFormatException($"{where}: {Architecture} {what} = {value} must be positive");
        }
        Positive(VocabSize, "vocabulary size");
        Positive(BlockCount, "block count");
        Positive(KeyLength, "key length");
        Positive(ValueLength, "value length");
        Positive(ContextLength, "context length");
        if (!IsMoe)
            Positive(FeedForwardLength, "feed-forward length");
        else
            Positive(ExpertFeedForwardLength, "expert feed-forward length");
        if (RopeDimensionCount <= 0 || RopeDimensionCount > KeyLength || RopeDimensionCount % 2 != 0)
            throw new ModelFormatException($"{where}: rope dimension count {RopeDimensionCount} must be even and at most the key length {KeyLength}");
        if (!(RmsEpsilon > 0f) || !(RopeFreqBase > 0f))
            throw new ModelFormatException($"{where}: RMS epsilon {RmsEpsilon} and rope base {RopeFreqBase} must be positive");
    }

    private static RopeScalingType ParseScaling(string? text, string where) => text switch
    {
        null or "" or "none" => RopeScalingType.None,
        "linear" => RopeScalingType.Linear,
        "yarn" => RopeScalingType.Yarn,
        _ => throw new ModelFormatException($"{where}: rope scaling type '{text}' is not supported (none, linear, yarn)"),
    };

    private static int Required(GgufFile file, string key, string where) =>
        Optional(file, key) ?? throw new ModelFormatException($"{where}: required metadata key '{key}' is missing");

    private static int? Optional(GgufFile file, string key)
    {
        var value = file.Find(key);
        if (value is null)
            return null;
        if (value.Value is GgufArray)
            return UniformArray(file, key);
        uint v = file.GetUInt32(key);
        return v <= int.MaxValue ? (int)v : throw new GgufMetadataException(key, $"metadata key '{key}' = {v} is out of range");
    }

    // Some files store per-layer values as arrays; Fathom supports them when every layer agrees.
    private static int UniformArray(GgufFile file, string key)
    {
        var items = file.Get(key).AsArray!.Items;
        var values = new List<long>();
        foreach (object o in items)
            values.Add(Convert.ToInt64(o, System.Globalization.CultureInfo.InvariantCulture));
        if (values.Count == 0 || values.Any(v => v != values[0]) || values[0] < 0 || values[0] > int.MaxValue)
            throw new ModelFormatException($"metadata key '{key}' varies per layer ([{string.Join(", ", values)}]); only uniform values are supported");
        return (int)values[0];
    }
}
