using System.Buffers;

namespace Fathom.Gguf.Synth;

/// <summary>The shape and element type of a synthetic model.</summary>
public sealed record SynthOptions
{
    /// <summary>llama, qwen2 or qwen3; with <see cref="Experts"/> qwen3 becomes qwen3moe and llama a Mixtral-style llama.</summary>
    public required string Architecture { get; init; }
    public required int Layers { get; init; }
    public required int Embedding { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int FeedForward { get; init; }

    /// <summary>Per-head width; defaults to Embedding / Heads.</summary>
    public int? HeadDim { get; init; }
    public int Experts { get; init; }
    public int ExpertsUsed { get; init; }

    /// <summary>Each expert's FFN width (qwen3moe); defaults to <see cref="FeedForward"/>.</summary>
    public int? ExpertFeedForward { get; init; }
    public GgmlType Type { get; init; } = GgmlType.F16;
    public ulong Seed { get; init; } = 42;
    public int ContextLength { get; init; } = 4096;
    public float? RopeFreqBase { get; init; }
    public float? RmsEpsilon { get; init; }
    public string? Name { get; init; }
}

/// <summary>One tensor of a synthetic model and how its values are drawn.</summary>
public sealed record SynthTensor(string Name, long[] Shape, GgmlType Type, float Mean, float Std);

/// <summary>
/// Writes random-weight models with exactly the keys and tensors convert_hf_to_gguf.py writes for the
/// architecture: matrices ~ N(0, 1/fan_in), norms ~ 1 + N(0, 0.05²), qwen2 q/k/v biases ~ N(0, 0.1²),
/// tokenizer metadata copied from a vocab GGUF. Values are generated in parallel per chunk of rows and
/// streamed to the file; the output depends only on the options and the seed.
/// </summary>
public static class ModelSynthesizer
{
    /// <summary>Elements generated per parallel work item.</summary>
    internal const int ChunkElements = 1 << 20;

    public static string ResolveArchitecture(SynthOptions o) => (o.Architecture, o.Experts > 0) switch
    {
        ("llama", _) => "llama",
        ("qwen2", false) => "qwen2",
        ("qwen3", false) => "qwen3",
        ("qwen3", true) or ("qwen3moe", true) => "qwen3moe",
        ("qwen2", true) => throw new ArgumentException("qwen2 has no mixture-of-experts variant here; use qwen3 or llama with experts."),
        ("qwen3moe", false) => throw new ArgumentException("qwen3moe needs experts."),
        _ => throw new ArgumentException($"Unknown architecture '{o.Architecture}' (expected llama, qwen2 or qwen3)."),
    };

    /// <summary>Checks the options; <see cref="ArgumentException"/> names what is wrong.</summary>
    public static void Validate(SynthOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        _ = ResolveArchitecture(o);
        Positive(o.Layers, "layers");
        Positive(o.Embedding, "embedding width");
        Positive(o.Heads, "heads");
        Positive(o.KvHeads, "kv heads");
        Positive(o.FeedForward, "feed-forward width");
        Positive(o.ContextLength, "context length");
        if (o.HeadDim is { } hd)
            Positive(hd, "head dim");
        if (o.ExpertFeedForward is { } eff)
            Positive(eff, "expert feed-forward width");
        if (o.Heads % o.KvHeads != 0)
            throw new ArgumentException($"heads ({o.Heads}) must be a multiple of kv heads ({o.KvHeads}).");
        if (o.HeadDim is null && o.Embedding % o.Heads != 0)
            throw new ArgumentException($"embedding width ({o.Embedding}) is not a multiple of heads ({o.Heads}); give the head dim.");
        if (o.Experts < 0 || o.ExpertsUsed < 0)
            throw new ArgumentException("expert counts cannot be negative.");
        if (o.Experts == 0 && o.ExpertsUsed > 0)
            throw new ArgumentException("experts-used needs experts.");
        if (o.Experts > 0 && (o.ExpertsUsed < 1 || o.ExpertsUsed > o.Experts))
            throw new ArgumentException($"experts-used must be between 1 and experts ({o.Experts}).");
        if (!SynthEncoding.Supports(o.Type))
            throw new ArgumentException($"type {GgmlTypeInfo.Name(o.Type)} is not supported (f32 or f16).");
    }

    private static void Positive(long value, string what)
    {
        if (value < 1)
            throw new ArgumentException($"{what} must be at least 1, got {value}.");
    }

    /// <summary>The tensors, in file order, for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public static IReadOnlyList<SynthTensor> Plan(SynthOptions o, long vocabSize)
    {
        Validate(o);
        string arch = ResolveArchitecture(o);
        long embd = o.Embedding, hd = o.HeadDim ?? o.Embedding / o.Heads;
        long q = o.Heads * hd, kv = o.KvHeads * hd;
        long ff = o.FeedForward, eff = o.ExpertFeedForward ?? o.FeedForward;
        var t = new List<SynthTensor>();
        SynthTensor Matrix(string name, params long[] shape) => new(name, shape, o.Type, 0f, 1f / MathF.Sqrt(shape[0]));
        SynthTensor Norm(string name, long n) => new(name, [n], GgmlType.F32, 1f, 0.05f);

        t.Add(Matrix("token_embd.weight", embd, vocabSize));
        for (int i = 0; i < o.Layers; i++)
        {
            string b = $"blk.{i}.";
            t.Add(Norm(b + "attn_norm.weight", embd));
            t.Add(Matrix(b + "attn_q.weight", embd, q));
            t.Add(Matrix(b + "attn_k.weight", embd, kv));
            t.Add(Matrix(b + "attn_v.weight", embd, kv));
            if (arch == "qwen2")
            {
                t.Add(new(b + "attn_q.bias", [q], GgmlType.F32, 0f, 0.1f));
                t.Add(new(b + "attn_k.bias", [kv], GgmlType.F32, 0f, 0.1f));
                t.Add(new(b + "attn_v.bias", [kv], GgmlType.F32, 0f, 0.1f));
            }
            if (arch is "qwen3" or "qwen3moe")
            {
                t.Add(Norm(b + "attn_q_norm.weight", hd));
                t.Add(Norm(b + "attn_k_norm.weight", hd));
            }
            t.Add(Matrix(b + "attn_output.weight", q, embd));
            t.Add(Norm(b + "ffn_norm.weight", embd));
            if (o.Experts > 0)
            {
                long e = o.Experts, width = arch == "qwen3moe" ? eff : ff;
                t.Add(Matrix(b + "ffn_gate_inp.weight", embd, e) with { Type = GgmlType.F32 }); // routers stay F32, as in convert_hf_to_gguf.py
                t.Add(Matrix(b + "ffn_gate_exps.weight", embd, width, e));
                t.Add(Matrix(b + "ffn_down_exps.weight", width, embd, e));
                t.Add(Matrix(b + "ffn_up_exps.weight", embd, width, e));
            }
            else
            {
                t.Add(Matrix(b + "ffn_gate.weight", embd, ff));
                t.Add(Matrix(b + "ffn_down.weight", ff, embd));
                t.Add(Matrix(b + "ffn_up.weight", embd, ff));
            }
        }
        t.Add(Norm("output_norm.weight", embd));
        if (arch is "llama" or "qwen3moe") // qwen2/qwen3 dense tie the output to token_embd
            t.Add(Matrix("output.weight", embd, vocabSize));
        return t;
    }

    /// <summary>A writer holding the synthetic model; tensor data is generated while it writes.</summary>
    public static GgufWriter CreateWriter(SynthOptions o, GgufFile vocab)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        Validate(o);
        int vocabSize = vocab.GetArrayLength(GgufKeys.Tokenizer.Tokens)
            ?? throw new ArgumentException($"{vocab.Path ?? "vocab"} has no {GgufKeys.Tokenizer.Tokens}; it cannot supply a vocabulary.");
        string arch = ResolveArchitecture(o);
        long hd = o.HeadDim ?? o.Embedding / o.Heads;
        bool qwen = arch != "llama";

        var w = new GgufWriter();
        w.Add(GgufKeys.General.Architecture, GgufValue.Of(arch));
        w.Add(GgufKeys.General.Type, GgufValue.Of("model"));
        w.Add(GgufKeys.General.Name, GgufValue.Of(o.Name ?? $"synth-{arch}"));
        w.Add(GgufKeys.General.FileType, GgufValue.Of(SynthEncoding.FileType(o.Type)));
        w.Add(GgufKeys.Llm.VocabSize(arch), GgufValue.Of((uint)vocabSize));
        w.Add(GgufKeys.Llm.ContextLength(arch), GgufValue.Of((uint)o.ContextLength));
        w.Add(GgufKeys.Llm.EmbeddingLength(arch), GgufValue.Of((uint)o.Embedding));
        w.Add(GgufKeys.Llm.BlockCount(arch), GgufValue.Of((uint)o.Layers));
        w.Add(GgufKeys.Llm.FeedForwardLength(arch), GgufValue.Of((uint)o.FeedForward));
        w.Add(GgufKeys.Attention.HeadCount(arch), GgufValue.Of((uint)o.Heads));
        w.Add(GgufKeys.Attention.HeadCountKv(arch), GgufValue.Of((uint)o.KvHeads));
        w.Add(GgufKeys.Rope.DimensionCount(arch), GgufValue.Of((uint)hd));
        if (qwen || hd * o.Heads != o.Embedding)
        {
            w.Add(GgufKeys.Attention.KeyLength(arch), GgufValue.Of((uint)hd));
            w.Add(GgufKeys.Attention.ValueLength(arch), GgufValue.Of((uint)hd));
        }
        w.Add(GgufKeys.Rope.FreqBase(arch), GgufValue.Of(o.RopeFreqBase ?? (qwen ? 1e6f : 500000f)));
        w.Add(GgufKeys.Attention.LayerNormRmsEpsilon(arch), GgufValue.Of(o.RmsEpsilon ?? (qwen ? 1e-6f : 1e-5f)));
        if (o.Experts > 0)
        {
            w.Add(GgufKeys.Llm.ExpertCount(arch), GgufValue.Of((uint)o.Experts));
            w.Add(GgufKeys.Llm.ExpertUsedCount(arch), GgufValue.Of((uint)o.ExpertsUsed));
            if (arch == "qwen3moe")
                w.Add(GgufKeys.Llm.ExpertFeedForwardLength(arch), GgufValue.Of((uint)(o.ExpertFeedForward ?? o.FeedForward)));
        }
        w.Add(GgufKeys.General.QuantizationVersion, GgufValue.Of(2u));
        foreach (var (key, value) in vocab.Metadata)
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal))
                w.Add(key, value);

        var plan = Plan(o, vocabSize);
        for (int i = 0; i < plan.Count; i++)
        {
            var tensor = plan[i];
            int index = i;
            w.AddTensor(tensor.Name, tensor.Type, tensor.Shape, stream => WriteTensor(stream, tensor, o.Seed, index));
        }
        return w;
    }

    /// <summary>Writes the model to <paramref name="path"/> (through a temporary file, so a failed write leaves nothing behind).</summary>
    public static void Write(SynthOptions o, GgufFile vocab, string path, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        var writer = CreateWriter(o, vocab);
        string temp = path + ".partial";
        try
        {
            writer.WriteTo(temp, progress, cancellationToken);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    /// <summary>
    /// Generates one tensor chunk by chunk: a wave of chunks is generated in parallel while the previous
    /// wave is written, in order.
    /// </summary>
    private static void WriteTensor(Stream stream, SynthTensor tensor, ulong seed, int tensorIndex)
    {
        long ne0 = tensor.Shape[0];
        long rows = 1;
        for (int d = 1; d < tensor.Shape.Length; d++)
            rows *= tensor.Shape[d];
        long rowsPerChunk = Math.Max(1, ChunkElements / ne0);
        long chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        long rowBytes = GgmlTypeInfo.RowSize(tensor.Type, ne0);
        int slots = (int)Math.Min(chunks, Math.Clamp(Environment.ProcessorCount * 2, 2, 32));
        int floatLength = checked((int)(rowsPerChunk * ne0));
        int byteLength = checked((int)(rowsPerChunk * rowBytes));
        var floats = new float[slots][];
        var bytes = new byte[2][][]; // two waves of encoded chunks: one being written, one being generated
        var lengths = new int[2][];
        Task? next = null;
        try
        {
            for (int s = 0; s < slots; s++)
                floats[s] = ArrayPool<float>.Shared.Rent(floatLength);
            for (int b = 0; b < 2; b++)
            {
                bytes[b] = new byte[slots][];
                lengths[b] = new int[slots];
                for (int s = 0; s < slots; s++)
                    bytes[b][s] = ArrayPool<byte>.Shared.Rent(byteLength);
            }

            void Generate(long first, int wave, int buffer) => Parallel.For(0, wave, s =>
            {
                long chunk = first + s;
                long chunkRows = Math.Min(rowsPerChunk, rows - chunk * rowsPerChunk);
                var values = floats[s].AsSpan(0, (int)(chunkRows * ne0));
                SynthRandom.FillNormal(values, seed, SynthRandom.Stream(tensorIndex, chunk), tensor.Mean, tensor.Std);
                lengths[buffer][s] = (int)(chunkRows * rowBytes);
                SynthEncoding.Encode(tensor.Type, values, bytes[buffer][s].AsSpan(0, lengths[buffer][s]));
            });

            int previous = 0;
            Generate(0, (int)Math.Min(slots, chunks), 0);
            for (long first = slots; ; first += slots)
            {
                int prevWave = (int)Math.Min(slots, chunks - (first - slots));
                int buffer = 1 - previous;
                next = first < chunks
                    ? Task.Run(() => Generate(first, (int)Math.Min(slots, chunks - first), buffer))
                    : null;
                for (int s = 0; s < prevWave; s++)
                    stream.Write(bytes[previous][s], 0, lengths[previous][s]);
                if (next is null)
                    break;
                var generated = next;
                next = null;
                generated.GetAwaiter().GetResult();
                previous = buffer;
            }
        }
        finally
        {
            // A failed write must not hand buffers back to the pool while a generation still fills them.
            try
            {
                next?.Wait();
            }
            catch (AggregateException)
            {
            }
            foreach (var f in floats)
                if (f is not null)
                    ArrayPool<float>.Shared.Return(f);
            foreach (var wave in bytes)
                foreach (var b in wave ?? [])
                    if (b is not null)
                        ArrayPool<byte>.Shared.Return(b);
        }
    }
}
