using System.Globalization;
using Fathom.Gguf;

namespace Fathom.Tensors.Quants;

/// <summary>llama.cpp's file types (<c>general.file_type</c>, <c>LLAMA_FTYPE_*</c>) that Fathom can write.</summary>
public enum QuantFileType
{
    AllF32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q8_0 = 7,
    Q5_0 = 8,
    Q5_1 = 9,
    Q2_K = 10,
    Q3_K_S = 11,
    Q3_K_M = 12,
    Q3_K_L = 13,
    Q4_K_S = 14,
    Q4_K_M = 15,
    Q5_K_S = 16,
    Q5_K_M = 17,
    Q6_K = 18,
    IQ4_NL = 25,
    IQ4_XS = 30,
    BF16 = 32,
}

/// <summary>The output type chosen for one tensor.</summary>
public sealed record TensorQuantPlan(GgufTensorInfo Source, GgmlType Target)
{
    public bool Converts => Source.Type != Target;
}

/// <summary>
/// Chooses each tensor's type the way llama-quantize does (llama-quant.cpp at the fixtures' commit,
/// without an importance matrix, overrides or pruning): only 2-D+ tensors whose name ends in "weight" are
/// quantized (not norms, not the MoE router); a mixed recipe (Q4_K_M, …) raises the output matrix,
/// some attn_v / ffn_down layers and a few others to more bits; <c>pure</c> gives every quantizable
/// tensor the base type. Tensors are processed in llama.cpp's order: non-layer tensors by name, then
/// layers in numeric order, names sorted within a layer; that order drives the per-layer counters.
/// </summary>
public static class QuantRecipe
{
    private static readonly (string Name, QuantFileType Type)[] Names =
    [
        ("f32", QuantFileType.AllF32), ("f16", QuantFileType.F16), ("bf16", QuantFileType.BF16),
        ("q4_0", QuantFileType.Q4_0), ("q4_1", QuantFileType.Q4_1), ("q5_0", QuantFileType.Q5_0),
        ("q5_1", QuantFileType.Q5_1), ("q8_0", QuantFileType.Q8_0), ("q2_k", QuantFileType.Q2_K),
        ("q3_k_s", QuantFileType.Q3_K_S), ("q3_k_m", QuantFileType.Q3_K_M), ("q3_k", QuantFileType.Q3_K_M),
        ("q3_k_l", QuantFileType.Q3_K_L), ("q4_k_s", QuantFileType.Q4_K_S), ("q4_k_m", QuantFileType.Q4_K_M),
        ("q4_k", QuantFileType.Q4_K_M), ("q5_k_s", QuantFileType.Q5_K_S), ("q5_k_m", QuantFileType.Q5_K_M),
        ("q5_k", QuantFileType.Q5_K_M), ("q6_k", QuantFileType.Q6_K),
        ("iq4_nl", QuantFileType.IQ4_NL), ("iq4_xs", QuantFileType.IQ4_XS),
    ];

    /// <summary>The names <see cref="TryParse"/> accepts, as llama-quantize spells them (lower case).</summary>
    public static IEnumerable<string> TypeNames => Names.Select(n => n.Name);

    /// <summary>Parses "Q4_K_M", "q8_0", "f16", … (case-insensitive); "q4_k" means Q4_K_M as in llama-quantize.</summary>
    public static bool TryParse(string name, out QuantFileType type)
    {
        foreach (var (n, t) in Names)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
            {
                type = t;
                return true;
            }
        }
        type = default;
        return false;
    }

    /// <summary>The base tensor type of a file type.</summary>
    public static GgmlType DefaultType(QuantFileType ftype) => ftype switch
    {
        QuantFileType.AllF32 => GgmlType.F32,
        QuantFileType.F16 => GgmlType.F16,
        QuantFileType.BF16 => GgmlType.BF16,
        QuantFileType.Q4_0 => GgmlType.Q4_0,
        QuantFileType.Q4_1 => GgmlType.Q4_1,
        QuantFileType.Q5_0 => GgmlType.Q5_0,
        QuantFileType.Q5_1 => GgmlType.Q5_1,
        QuantFileType.Q8_0 => GgmlType.Q8_0,
        QuantFileType.Q2_K => GgmlType.Q2_K,
        QuantFileType.Q3_K_S or QuantFileType.Q3_K_M or QuantFileType.Q3_K_L => GgmlType.Q3_K,
        QuantFileType.Q4_K_S or QuantFileType.Q4_K_M => GgmlType.Q4_K,
        QuantFileType.Q5_K_S or QuantFileType.Q5_K_M => GgmlType.Q5_K,
        QuantFileType.Q6_K => GgmlType.Q6_K,
        QuantFileType.IQ4_NL => GgmlType.IQ4_NL,
        QuantFileType.IQ4_XS => GgmlType.IQ4_XS,
        _ => throw new ArgumentOutOfRangeException(nameof(ftype), ftype, "Unknown file type."),
    };

    /// <summary>The tensors of <paramref name="file"/> in llama-quantize's output order, each with its chosen type.</summary>
    public static IReadOnlyList<TensorQuantPlan> Plan(GgufFile file, QuantFileType ftype, bool pure)
    {
        var state = new State(file);
        var ordered = file.Tensors.OrderBy(t => t, TensorOrder.Instance).ToList();
        foreach (var t in ordered)
        {
            var cat = Categorize(t.Name);
            if (IsAttnV(cat)) state.AttentionWvCount++;
            if (cat == Category.Output) state.TiedEmbeddings = false;
        }
        var plan = new List<TensorQuantPlan>(ordered.Count);
        GgmlType baseType = DefaultType(ftype);
        foreach (var t in ordered)
        {
            GgmlType target = t.Type;
            if (AllowsQuantization(t))
            {
                target = baseType;
                if (!pure && GgmlTypeInfo.IsQuantized(baseType))
                {
                    target = Choose(state, t, ftype, baseType, Categorize(t.Name));
                    target = Fallback(t, target);
                }
            }
            plan.Add(new TensorQuantPlan(t, target));
        }
        return plan;
    }

    /// <summary>llama.cpp's tensor_allows_quantization for the tensor names of decoder LLMs.</summary>
    public static bool AllowsQuantization(GgufTensorInfo t)
    {
        if (NDims(t) < 2) return false;
        string name = t.Name;
        if (!name.EndsWith("weight", StringComparison.Ordinal)) return false;
        string[] never =
        [
            "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
            "shortconv.conv.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
            "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
            "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
            "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
            "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
            "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
        ];
        foreach (string n in never)
            if (name.Contains(n, StringComparison.Ordinal)) return false;
        return name != "position_embd.weight" && name != "token_types.weight";
    }

    // ggml_n_dims: trailing dimensions of 1 do not count.
    internal static int NDims(GgufTensorInfo t)
    {
        for (int i = t.Dimensions.Length - 1; i >= 1; i--)
            if (t.Dimensions[i] > 1) return i + 1;
        return 1;
    }

    private enum Category { TokenEmbd, AttentionQ, AttentionK, AttentionV, AttentionQkv, AttentionKvB, AttentionOutput, FfnUp, FfnGate, FfnDown, Output, Other }

    private static Category Categorize(string name)
    {
        if (name == "output.weight") return Category.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return Category.TokenEmbd;
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal)) return Category.AttentionQkv;
        if (name.Contains("attn_kv_b.weight", StringComparison.Ordinal)) return Category.AttentionKvB;
        if (name.Contains("attn_v.weight", StringComparison.Ordinal)) return Category.AttentionV;
        if (name.Contains("attn_k.weight", StringComparison.Ordinal)) return Category.AttentionK;
        if (name.Contains("attn_q.weight", StringComparison.Ordinal)) return Category.AttentionQ;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return Category.AttentionOutput;
        if (name.Contains("ffn_up", StringComparison.Ordinal)) return Category.FfnUp;
        if (name.Contains("ffn_gate", StringComparison.Ordinal)) return Category.FfnGate;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return Category.FfnDown;
        return Category.Other;
    }

    private static bool IsAttnV(Category c) => c is Category.AttentionV or Category.AttentionQkv or Category.AttentionKvB;

    private static bool UseMoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    private sealed class State
    {
        public State(GgufFile file)
        {
            Arch = file.GetStringOrNull(GgufKeys.General.Architecture) ?? "";
            Layers = (int)(Arch.Length > 0 ? file.GetUInt32OrNull(GgufKeys.Llm.BlockCount(Arch)) ?? 0 : 0);
            Experts = (int)(Arch.Length > 0 ? file.GetUInt32OrNull(GgufKeys.Llm.ExpertCount(Arch)) ?? 0 : 0);
            int heads = HeadCount(file, GgufKeys.Attention.HeadCount(Arch));
            int kvHeads = HeadCount(file, GgufKeys.Attention.HeadCountKv(Arch));
            if (kvHeads == 0) kvHeads = heads;
            Gqa = kvHeads > 0 ? heads / kvHeads : 0;
            // llama.cpp's LLM_TYPE_70B: an 80-layer llama with grouped-query attention.
            Is70B = Arch == "llama" && Layers == 80 && heads != kvHeads;
        }

        public string Arch { get; }
        public int Layers { get; }
        public int Experts { get; }
        public int Gqa { get; }
        public bool Is70B { get; }
        public bool TiedEmbeddings { get; set; } = true;
        public int AttentionWvCount { get; set; }
        public int AttentionWv { get; set; }
        public int FfnDown { get; set; }
        public int FfnGate { get; set; }
        public int FfnUp { get; set; }

        private static int HeadCount(GgufFile file, string key)
        {
            var v = file.Find(key);
            if (v is null) return 0;
            // Per-layer head counts are arrays; llama.cpp's n_gqa() reads layer 0.
            if (v.Value is GgufArray a)
                return a.Count > 0 ? Convert.ToInt32(a.Items.GetValue(0), CultureInfo.InvariantCulture) : 0;
            return Convert.ToInt32(v.Value, CultureInfo.InvariantCulture);
        }

        public (int Layer, int Layers) LayerInfo(int counter, string name)
        {
            if (Math.Max(1, Experts) > 1)
            {
                if (!TryLayer(name, out int layer))
                    throw new InvalidDataException($"Cannot determine the layer of tensor {name}.");
                if (layer < 0 || layer >= Layers)
                    throw new InvalidDataException($"Tensor {name} has layer {layer}; the model has {Layers}.");
                return (layer, Layers);
            }
            return (counter, Layers);
        }
    }

    private static bool TryLayer(string name, out int layer)
    {
        layer = -1;
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return false;
        int end = name.IndexOf('.', 4);
        if (end > 4 && int.TryParse(name.AsSpan(4, end - 4), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int parsed))
        {
            layer = parsed;
            return true;
        }
        return false;
    }

    // llama_tensor_get_type_impl, restricted to the file types in QuantFileType (no IQ1-3 / MXFP4 recipes, no imatrix).
    private static GgmlType Choose(State qs, GgufTensorInfo t, QuantFileType ftype, GgmlType type, Category category)
    {
        bool falcon = qs.Arch == "falcon";
        if (category == Category.Output || (qs.TiedEmbeddings && category == Category.TokenEmbd))
        {
            long nx = t.Dimensions[0];
            if (falcon || nx % GgmlTypeInfo.BlockSize(type) != 0) return GgmlType.Q8_0;
            return type != GgmlType.Q8_0 ? GgmlType.Q6_K : type;
        }
        if (category == Category.TokenEmbd)
            return type;
        if (IsAttnV(category))
        {
            if (ftype == QuantFileType.Q2_K) type = qs.Gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
            else if (ftype == QuantFileType.Q3_K_M) type = qs.AttentionWv < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
            else if (ftype == QuantFileType.Q3_K_L) type = GgmlType.Q5_K;
            else if (ftype is QuantFileType.IQ4_NL or QuantFileType.IQ4_XS && qs.Gqa >= 4) type = GgmlType.Q5_K;
            else if (ftype is QuantFileType.Q4_K_M or QuantFileType.Q5_K_M && UseMoreBits(qs.AttentionWv, qs.AttentionWvCount)) type = GgmlType.Q6_K;
            else if (ftype == QuantFileType.Q4_K_S && qs.AttentionWv < 4) type = GgmlType.Q5_K;
            if (qs.Is70B && type is GgmlType.Q3_K or GgmlType.Q4_K) type = GgmlType.Q5_K;
            if (qs.Experts == 8) type = GgmlType.Q8_0;
            qs.AttentionWv++;
            return type;
        }
        if (category == Category.AttentionK)
            return qs.Experts == 8 ? GgmlType.Q8_0 : type;
        if (category == Category.FfnDown)
        {
            var (layer, layers) = qs.LayerInfo(qs.FfnDown, t.Name);
            if (ftype == QuantFileType.Q2_K) type = GgmlType.Q3_K;
            else if (ftype == QuantFileType.Q3_K_M)
                type = layer < layers / 16 ? GgmlType.Q5_K : !falcon || UseMoreBits(layer, layers) ? GgmlType.Q4_K : GgmlType.Q3_K;
            else if (ftype == QuantFileType.Q3_K_L) type = falcon ? GgmlType.Q4_K : GgmlType.Q5_K;
            else if (ftype == QuantFileType.Q4_K_M)
            {
                if (falcon)
                    type = layer < layers / 16 ? GgmlType.Q6_K : UseMoreBits(layer, layers) ? GgmlType.Q5_K : GgmlType.Q4_K;
                else if (UseMoreBits(layer, layers))
                    type = GgmlType.Q6_K;
            }
            else if (layer < layers / 8 && ftype is QuantFileType.IQ4_NL or QuantFileType.IQ4_XS) type = GgmlType.Q5_K;
            else if (ftype == QuantFileType.Q5_K_M && UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
            else if (ftype == QuantFileType.Q4_K_S && !falcon && layer < layers / 8) type = GgmlType.Q5_K;
            qs.FfnDown++;
            return type;
        }
        if (category == Category.AttentionOutput)
        {
            if (!falcon)
            {
                if (qs.Experts == 8)
                {
                    if (ftype is QuantFileType.Q2_K or QuantFileType.Q3_K_S or QuantFileType.Q3_K_M or QuantFileType.Q4_K_S
                        or QuantFileType.Q4_K_M or QuantFileType.IQ4_NL or QuantFileType.IQ4_XS)
                        type = GgmlType.Q5_K;
                }
                else if (ftype == QuantFileType.Q2_K) type = GgmlType.Q3_K;
                else if (ftype == QuantFileType.Q3_K_M) type = GgmlType.Q4_K;
                else if (ftype == QuantFileType.Q3_K_L) type = GgmlType.Q5_K;
            }
            else if (ftype == QuantFileType.Q3_K_L)
            {
                type = GgmlType.Q4_K;
            }
            return type;
        }
        if (category == Category.AttentionQkv)
        {
            if (ftype is QuantFileType.Q3_K_M or QuantFileType.Q3_K_L) type = GgmlType.Q4_K;
            else if (ftype == QuantFileType.Q4_K_M) type = GgmlType.Q5_K;
            else if (ftype == QuantFileType.Q5_K_M) type = GgmlType.Q6_K;
            return type;
        }
        if (category == Category.FfnGate)
        {
            qs.LayerInfo(qs.FfnGate, t.Name);
            qs.FfnGate++;
        }
        else if (category == Category.FfnUp)
        {
            qs.LayerInfo(qs.FfnUp, t.Name);
            qs.FfnUp++;
        }
        return type;
    }

    // tensor_type_fallback: rows that are not a whole number of blocks get a compatible type.
    private static GgmlType Fallback(GgufTensorInfo t, GgmlType target)
    {
        long cols = t.Dimensions[0];
        if (cols % GgmlTypeInfo.BlockSize(target) == 0) return target;
        GgmlType fallback = target switch
        {
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            GgmlType.IQ4_XS => GgmlType.IQ4_NL,
            _ => throw new InvalidDataException($"Tensor {t.Name}: {cols} columns is not a whole number of {GgmlTypeInfo.Name(target)} blocks and no fallback type exists."),
        };
        return cols % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    /// <summary>llama.cpp's weight_name_comparer: by layer number (non-layer tensors first), then by name (ordinal).</summary>
    private sealed class TensorOrder : IComparer<GgufTensorInfo>
    {
        public static readonly TensorOrder Instance = new();

        public int Compare(GgufTensorInfo? a, GgufTensorInfo? b)
        {
            TryLayer(a!.Name, out int la);
            TryLayer(b!.Name, out int lb);
            return la != lb ? la.CompareTo(lb) : string.CompareOrdinal(a.Name, b.Name);
        }
    }
}
