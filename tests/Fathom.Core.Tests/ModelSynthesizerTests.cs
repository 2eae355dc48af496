using Fathom.Gguf;
using Fathom.Gguf.Synth;
using Fathom.Tensors;

namespace Fathom.Tests;

public class ModelSynthesizerTests
{
    private static byte[] Synthesize(SynthOptions options, string vocabPath)
    {
        using var vocab = GgufFile.Open(vocabPath);
        return GgufWriterTests.WriteToBytes(ModelSynthesizer.CreateWriter(options, vocab));
    }

    /// <summary>The shapes of the tiny fixtures (written by gguf-py with convert_hf_to_gguf.py's keys).</summary>
    public static TheoryData<string, string, int, int, int?, int?> FixtureShapes() => new()
    {
        { "tiny-llama-f32.gguf", "llama", 256, 768, null, null },
        { "tiny-qwen2-f32.gguf", "qwen2", 256, 768, null, null },
        { "tiny-qwen3-f32.gguf", "qwen3", 256, 768, null, null },
        { "tiny-qwen3moe-f32.gguf", "qwen3", 128, 768, 8, 256 },
    };

    [Theory]
    [MemberData(nameof(FixtureShapes))]
    public void Writes_the_keys_and_tensors_the_fixture_of_the_same_shape_has(string fixture, string arch, int embd, int ff, int? experts, int? expertFf)
    {
        string path = Fixtures.Model(fixture);
        var options = new SynthOptions
        {
            Architecture = arch,
            Layers = 2,
            Embedding = embd,
            Heads = 4,
            KvHeads = 2,
            HeadDim = 64,
            FeedForward = ff,
            Experts = experts ?? 0,
            ExpertsUsed = experts is null ? 0 : 2,
            ExpertFeedForward = expertFf,
            Type = GgmlType.F32,
            ContextLength = 2048,
            Seed = 7,
        };
        using var expected = GgufFile.Open(path);
        using var actual = GgufFile.FromBytes(Synthesize(options with { Name = expected.GetString(GgufKeys.General.Name) }, path));

        Assert.Equal(expected.Metadata.Select(kv => (kv.Key, kv.Value.Type)), actual.Metadata.Select(kv => (kv.Key, kv.Value.Type)));
        string a = expected.GetString(GgufKeys.General.Architecture);
        foreach (string key in new[]
        {
            GgufKeys.Llm.VocabSize(a), GgufKeys.Llm.ContextLength(a), GgufKeys.Llm.EmbeddingLength(a), GgufKeys.Llm.BlockCount(a),
            GgufKeys.Llm.FeedForwardLength(a), GgufKeys.Attention.HeadCount(a), GgufKeys.Attention.HeadCountKv(a),
            GgufKeys.Rope.DimensionCount(a), GgufKeys.General.FileType, GgufKeys.General.QuantizationVersion, GgufKeys.General.Architecture,
        })
            Assert.True(expected.Get(key).ContentEquals(actual.Get(key)), key);
        foreach (var (key, value) in expected.Metadata.Where(kv => kv.Key.StartsWith("tokenizer.", StringComparison.Ordinal) || kv.Key.Contains("expert", StringComparison.Ordinal)))
            Assert.True(value.ContentEquals(actual.Get(key)), key);

        Assert.Equal(expected.Tensors.Select(t => (t.Name, t.Type, t.ShapeText)), actual.Tensors.Select(t => (t.Name, t.Type, t.ShapeText)));
        Assert.Equal(expected.FileSize, actual.FileSize);
    }

    [Theory]
    [InlineData("llama", 0, "tiny-llama-f32.gguf")]
    [InlineData("qwen2", 0, "tiny-qwen2-f32.gguf")]
    [InlineData("qwen3", 0, "tiny-qwen3-f32.gguf")]
    [InlineData("qwen3", 4, "tiny-qwen3moe-f32.gguf")]
    public void Synthesized_models_load_and_run_in_the_engine(string arch, int experts, string vocab)
    {
        var options = new SynthOptions
        {
            Architecture = arch, Layers = 2, Embedding = 64, Heads = 4, KvHeads = 2, HeadDim = 32, FeedForward = 96,
            Experts = experts, ExpertsUsed = experts > 0 ? 2 : 0, Type = GgmlType.F16, ContextLength = 256,
        };
        using var f = GgufFile.FromBytes(Synthesize(options, Fixtures.Model(vocab)));
        using var model = Fathom.Models.Model.FromGguf(f);
        Assert.Equal(ModelSynthesizer.ResolveArchitecture(options), model.Config.Architecture);
        Assert.Equal(32, model.Config.KeyLength);
        Assert.Equal(arch is "qwen2" or "qwen3" && experts == 0, model.TiedOutput);
        using var session = model.CreateSession(contextLength: 16);
        var logits = session.Forward([1, 2, 3]).ToArray();
        Assert.Equal(512, logits.Length);
        Assert.All(logits, x => Assert.True(float.IsFinite(x)));
        Assert.True(logits.Max() > logits.Min());
    }

    [Fact]
    public void Values_have_the_documented_distributions()
    {
        var options = new SynthOptions { Architecture = "qwen2", Layers = 1, Embedding = 256, Heads = 4, KvHeads = 2, FeedForward = 512, Type = GgmlType.F32, Seed = 3 };
        using var f = GgufFile.FromBytes(Synthesize(options, Fixtures.Model("tiny-qwen2-f32.gguf")));
        foreach (var info in f.Tensors)
        {
            var v = f.View(info).AsFloats();
            var (mean, variance) = Moments(v);
            (double m, double s) = info.Name switch
            {
                _ when info.Name.EndsWith("norm.weight", StringComparison.Ordinal) => (1.0, 0.05),
                _ when info.Name.EndsWith(".bias", StringComparison.Ordinal) => (0.0, 0.1),
                _ => (0.0, 1 / Math.Sqrt(info.Dimensions[0])),
            };
            // Five standard errors: the mean's is s/√n, the variance's s²·√(2/n).
            double n = v.Length;
            Assert.True(Math.Abs(mean - m) < 5 * s / Math.Sqrt(n), $"{info.Name}: mean {mean}, expected {m}");
            Assert.True(Math.Abs(variance / (s * s) - 1) < 5 * Math.Sqrt(2 / n), $"{info.Name}: variance {variance}, expected {s * s}");
        }
    }

    [Fact]
    public void Same_seed_same_file_other_seed_other_weights()
    {
        string vocab = Fixtures.Model("tiny-qwen3-f32.gguf");
        var options = new SynthOptions { Architecture = "qwen3", Layers = 2, Embedding = 64, Heads = 4, KvHeads = 1, FeedForward = 96, Type = GgmlType.F16, Seed = 11 };
        byte[] a = Synthesize(options, vocab);
        byte[] b = Synthesize(options, vocab);
        byte[] c = Synthesize(options with { Seed = 12 }, vocab);
        Assert.True(a.AsSpan().SequenceEqual(b));
        Assert.Equal(a.Length, c.Length);
        using var fa = GgufFile.FromBytes(a);
        using var fc = GgufFile.FromBytes(c);
        GgufWriterTests.AssertSameMetadata(fa, fc);
        foreach (var t in fa.Tensors)
            Assert.False(fa.View(t).Bytes.SequenceEqual(fc.GetTensor(t.Name).Bytes), t.Name);
        // Every tensor draws from its own streams: no two tensors of the same size share bytes.
        var blocks = fa.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal)).GroupBy(t => t.ByteSize);
        foreach (var group in blocks)
            Assert.Equal(group.Count(), group.Select(t => Convert.ToHexString(fa.View(t).Bytes[..64])).Distinct().Count());
    }

    [Fact]
    public void F16_matrices_and_F32_norms_and_router()
    {
        var options = new SynthOptions
        {
            Architecture = "llama", Layers = 1, Embedding = 64, Heads = 2, KvHeads = 2, FeedForward = 128,
            Experts = 4, ExpertsUsed = 2, Type = GgmlType.F16,
        };
        using var f = GgufFile.FromBytes(Synthesize(options, Fixtures.Model("tiny-llama-f32.gguf")));
        Assert.Equal("llama", f.GetString(GgufKeys.General.Architecture));
        Assert.Equal(1u, f.GetUInt32(GgufKeys.General.FileType));
        Assert.Equal(4u, f.GetUInt32(GgufKeys.Llm.ExpertCount("llama")));
        Assert.Equal(2u, f.GetUInt32(GgufKeys.Llm.ExpertUsedCount("llama")));
        Assert.Null(f.Find(GgufKeys.Llm.ExpertFeedForwardLength("llama")));
        Assert.Equal(GgmlType.F32, f.GetTensor("blk.0.ffn_gate_inp.weight").Type);
        Assert.Equal(GgmlType.F32, f.GetTensor("blk.0.attn_norm.weight").Type);
        var gate = f.GetTensor("blk.0.ffn_gate_exps.weight");
        Assert.Equal(GgmlType.F16, gate.Type);
        Assert.Equal([64L, 128, 4], gate.Shape);
        Assert.Equal([128L, 64, 4], f.GetTensor("blk.0.ffn_down_exps.weight").Shape);
        Assert.True(f.TryGetTensor("output.weight", out _));
        Assert.False(f.TryGetTensor("blk.0.ffn_gate.weight", out _));

        var (mean, variance) = Moments(HalfsToFloats(gate));
        Assert.True(Math.Abs(mean) < 5 * Math.Sqrt(1.0 / 64 / gate.ElementCount));
        Assert.True(Math.Abs(variance * 64 - 1) < 5 * Math.Sqrt(2.0 / gate.ElementCount));
    }

    [Fact]
    public void Head_dim_other_than_embd_over_heads_is_recorded()
    {
        var options = new SynthOptions { Architecture = "llama", Layers = 1, Embedding = 64, Heads = 4, KvHeads = 2, HeadDim = 32, FeedForward = 64, Type = GgmlType.F32 };
        using var f = GgufFile.FromBytes(Synthesize(options, Fixtures.Model("tiny-llama-f32.gguf")));
        Assert.Equal(32u, f.GetUInt32(GgufKeys.Attention.KeyLength("llama")));
        Assert.Equal(32u, f.GetUInt32(GgufKeys.Rope.DimensionCount("llama")));
        Assert.Equal([64L, 128], f.GetTensor("blk.0.attn_q.weight").Shape);
        Assert.Equal([64L, 64], f.GetTensor("blk.0.attn_k.weight").Shape);
        Assert.Equal([128L, 64], f.GetTensor("blk.0.attn_output.weight").Shape);
    }

    [Fact]
    public void Tensors_larger_than_one_chunk_are_written_whole()
    {
        // token_embd is 128 × 151,936 = 19.4M elements: many chunks, several parallel waves.
        var options = new SynthOptions { Architecture = "qwen2", Layers = 1, Embedding = 128, Heads = 2, KvHeads = 1, FeedForward = 64, Type = GgmlType.F16, Seed = 5 };
        using var f = GgufFile.FromBytes(Synthesize(options, Path.Combine(Fixtures.Vocab, "ggml-vocab-qwen2.gguf")));
        var emb = f.GetTensor("token_embd.weight");
        Assert.Equal([128L, 151936], emb.Shape);
        Assert.True(emb.ElementCount > 8 * ModelSynthesizer.ChunkElements);
        var values = HalfsToFloats(emb);
        var (mean, variance) = Moments(values);
        Assert.True(Math.Abs(mean) < 5 * Math.Sqrt(1.0 / 128 / values.Length));
        Assert.True(Math.Abs(variance * 128 - 1) < 0.01);
        // The last row is filled like the first, not left as zeros.
        var (_, lastRowVariance) = Moments(values.AsSpan(values.Length - 128 * 64));
        Assert.True(Math.Abs(lastRowVariance * 128 - 1) < 0.2);
        Assert.Equal(151936u, f.GetUInt32(GgufKeys.Llm.VocabSize("qwen2")));
        Assert.True(f.GetArray<string>(GgufKeys.Tokenizer.Tokens).Length == 151936);
    }

    [Theory]
    [InlineData("mistral", 4, 2, 0, 0, "Unknown architecture")]
    [InlineData("llama", 4, 3, 0, 0, "multiple of kv heads")]
    [InlineData("llama", 4, 2, 0, 1, "experts-used needs experts")]
    [InlineData("qwen3", 4, 2, 4, 5, "between 1 and experts")]
    [InlineData("qwen2", 4, 2, 4, 2, "no mixture-of-experts")]
    [InlineData("llama", 0, 2, 0, 0, "heads must be at least 1")]
    public void Invalid_options_are_refused(string arch, int heads, int kvHeads, int experts, int used, string message)
    {
        var options = new SynthOptions { Architecture = arch, Layers = 1, Embedding = 64, Heads = heads, KvHeads = kvHeads, FeedForward = 64, Experts = experts, ExpertsUsed = used };
        var ex = Assert.Throws<ArgumentException>(() => ModelSynthesizer.Validate(options));
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void Plan_counts_parameters_without_writing()
    {
        // Llama-3.2-1B's shape with an untied output: the parameter count follows from the shapes alone.
        var options = new SynthOptions { Architecture = "llama", Layers = 16, Embedding = 2048, Heads = 32, KvHeads = 8, FeedForward = 8192 };
        var plan = ModelSynthesizer.Plan(options, 128256);
        long perLayer = 2048 + 2048L * 2048 * 2 + 2048L * 512 * 2 + 2048 + 3 * 2048L * 8192;
        Assert.Equal(2 * 2048L * 128256 + 16 * perLayer + 2048, plan.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal(2 + 16 * 9 + 1, plan.Count);
    }

    internal static (double Mean, double Variance) Moments(ReadOnlySpan<float> values)
    {
        double sum = 0, sq = 0;
        foreach (float v in values)
        {
            sum += v;
            sq += (double)v * v;
        }
        double mean = sum / values.Length;
        return (mean, sq / values.Length - mean * mean);
    }

    private static float[] HalfsToFloats(TensorView view)
    {
        var halves = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(view.Bytes);
        var result = new float[halves.Length];
        for (int i = 0; i < halves.Length; i++)
            result[i] = (float)halves[i];
        return result;
    }
}
