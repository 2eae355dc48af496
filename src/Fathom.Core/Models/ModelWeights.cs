using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Models;

/// <summary>A 1-D float32 weight (norm scale, bias, rope factors) viewed in the mapped file.</summary>
internal sealed unsafe class Vec(string name, float* data, int length)
{
    public string Name { get; } = name;
    public int Length { get; } = length;
    public ReadOnlySpan<float> Span => new(data, Length);
}

/// <summary>One block's weights; a family binds the ones it uses and leaves the rest null.</summary>
internal sealed class LayerWeights
{
    public required Vec AttnNorm { get; init; }
    public required Linear Q { get; init; }
    public required Linear K { get; init; }
    public required Linear V { get; init; }
    public required Linear Output { get; init; }
    public Vec? QBias { get; init; }
    public Vec? KBias { get; init; }
    public Vec? VBias { get; init; }
    public Vec? QNorm { get; init; }
    public Vec? KNorm { get; init; }
    public required Vec FfnNorm { get; init; }
    public Linear? Gate { get; init; }
    public Linear? Up { get; init; }
    public Linear? Down { get; init; }

    /// <summary>MoE router: n_expert logits per token.</summary>
    public Linear? Router { get; init; }
    public Linear[]? GateExperts { get; init; }
    public Linear[]? UpExperts { get; init; }
    public Linear[]? DownExperts { get; init; }
}

/// <summary>All weights of a model: views into the GGUF mapping, never copies.</summary>
internal sealed class ModelWeights
{
    public required TensorView TokenEmbedding { get; init; }
    public required Vec OutputNorm { get; init; }

    /// <summary>The output projection: <c>output.weight</c>, or the token embedding when tied.</summary>
    public required Linear Output { get; init; }

    public bool TiedOutput { get; init; }

    /// <summary>llama3-style per-pair frequency divisors (<c>rope_freqs.weight</c>), or null.</summary>
    public Vec? RopeFreqs { get; init; }

    public required LayerWeights[] Layers { get; init; }
}

/// <summary>Looks tensors up by llama.cpp's names and checks their shapes and types against the config.</summary>
internal sealed unsafe class WeightBinder(GgufFile file, ModelConfig config)
{
    private readonly string _where = file.Path ?? "GGUF";

    public ModelConfig Config { get; } = config;

    public static string Block(int layer, string name) => $"blk.{layer}.{name}.weight";

    public bool Has(string name) => file.FindTensorInfo(name) is not null;

    public TensorView Tensor(string name) => file.TryGetTensor(name, out var view)
        ? view
        : throw new ModelFormatException($"{_where}: {Config.Architecture} model is missing tensor '{name}'");

    public Vec Vector(string name, int length)
    {
        var t = Tensor(name);
        CheckShape(t, [length]);
        if (t.Type != GgmlType.F32)
            throw new ModelFormatException($"{_where}: tensor '{name}' is {t.Type}; 1-D weights must be F32");
        return new Vec(name, (float*)t.Data, length);
    }

    public Vec? OptionalVector(string name, int length) => Has(name) ? Vector(name, length) : null;

    /// <summary>A matrix with ggml shape [columns, rows]: rows outputs of columns inputs.</summary>
    public Linear Matrix(string name, int columns, int rows)
    {
        var t = Tensor(name);
        CheckShape(t, [columns, rows]);
        CheckType(t);
        var linear = new Linear(t);
        if (file.Path is not null)
            linear.Packed?.ReleaseMappedSource(); // a mapped file: the packed copy replaces its pages in RSS
        return linear;
    }

    /// <summary>A stack of expert matrices, ggml shape [columns, rows, experts].</summary>
    public Linear[] Experts(string name, int columns, int rows, int experts)
    {
        var t = Tensor(name);
        CheckShape(t, [columns, rows, experts]);
        CheckType(t);
        long bytes = GgmlTypeInfo.RowSize(t.Type, columns) * rows;
        var result = new Linear[experts];
        for (int e = 0; e < experts; e++)
            result[e] = new Linear(new TensorView($"{name}[{e}]", t.Type, [columns, rows], t.Data + e * bytes, bytes), expert: true);
        return result;
    }

    private void CheckType(TensorView t)
    {
        if (!Linear.Supports(t.Type))
            throw new ModelFormatException($"{_where}: tensor '{t.Name}' has type {t.Type}, which the forward pass does not support yet");
    }

    private void CheckShape(TensorView t, long[] expected)
    {
        var shape = t.Shape.AsSpan();
        while (shape.Length > expected.Length && shape[^1] == 1)
            shape = shape[..^1];
        if (!shape.SequenceEqual(expected))
            throw new ModelFormatException(
                $"{_where}: tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", expected)}]");
    }

    /// <summary>Embedding, output norm, output (or tied embedding) and rope factors.</summary>
    public ModelWeights BindModel(Func<WeightBinder, int, LayerWeights> bindLayer)
    {
        var c = Config;
        var embd = Tensor("token_embd.weight");
        CheckShape(embd, [c.EmbeddingLength, c.VocabSize]);
        if (!Tensors.Quants.Dequantize.IsSupported(embd.Type))
            throw new ModelFormatException($"{_where}: tensor 'token_embd.weight' has type {embd.Type}, which the forward pass does not support yet");
        bool tied = !Has("output.weight");
        var layers = new LayerWeights[c.BlockCount];
        for (int il = 0; il < layers.Length; il++)
            layers[il] = bindLayer(this, il);
        return new ModelWeights
        {
            TokenEmbedding = embd,
            OutputNorm = Vector("output_norm.weight", c.EmbeddingLength),
            Output = Matrix(tied ? "token_embd.weight" : "output.weight", c.EmbeddingLength, c.VocabSize),
            TiedOutput = tied,
            RopeFreqs = OptionalVector("rope_freqs.weight", c.RopeDimensionCount / 2),
            Layers = layers,
        };
    }

    // ---- the blocks shared by families -------------------------------------------------------

    public Linear Q(int il) => Matrix(Block(il, "attn_q"), Config.EmbeddingLength, Config.HeadCount * Config.KeyLength);
    public Linear K(int il) => Matrix(Block(il, "attn_k"), Config.EmbeddingLength, Config.HeadCountKv * Config.KeyLength);
    public Linear V(int il) => Matrix(Block(il, "attn_v"), Config.EmbeddingLength, Config.HeadCountKv * Config.ValueLength);
    public Linear AttnOutput(int il) => Matrix(Block(il, "attn_output"), Config.HeadCount * Config.ValueLength, Config.EmbeddingLength);
    public Vec Norm(int il, string name) => Vector(Block(il, name), Config.EmbeddingLength);

    public Linear Gate(int il) => Matrix(Block(il, "ffn_gate"), Config.EmbeddingLength, Config.FeedForwardLength);
    public Linear Up(int il) => Matrix(Block(il, "ffn_up"), Config.EmbeddingLength, Config.FeedForwardLength);
    public Linear Down(int il) => Matrix(Block(il, "ffn_down"), Config.FeedForwardLength, Config.EmbeddingLength);

    public Linear Router(int il) => Matrix(Block(il, "ffn_gate_inp"), Config.EmbeddingLength, Config.ExpertCount);
    public Linear[] GateExperts(int il) => Experts(Block(il, "ffn_gate_exps"), Config.EmbeddingLength, Config.ExpertFeedForwardLength, Config.ExpertCount);
    public Linear[] UpExperts(int il) => Experts(Block(il, "ffn_up_exps"), Config.EmbeddingLength, Config.ExpertFeedForwardLength, Config.ExpertCount);
    public Linear[] DownExperts(int il) => Experts(Block(il, "ffn_down_exps"), Config.ExpertFeedForwardLength, Config.EmbeddingLength, Config.ExpertCount);
}
