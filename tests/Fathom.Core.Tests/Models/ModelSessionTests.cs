using Fathom.Models;

namespace Fathom.Tests.Models;

public class ModelSessionTests
{
    /// <summary>Every model with a golden in ../shared/fixtures/golden.</summary>
    public static TheoryData<string> GoldenModels => new(Directory.GetFiles(Fixtures.Golden, "*.logits.f32")
        .Select(f => Path.GetFileName(f)[..^".logits.f32".Length]).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void Logits_match_llama_cpp_within_tolerance(string name)
    {
        var golden = Golden.Load(name);
        golden.SkipUnlessKernelsExist();
        using var model = Model.Load(golden.ModelPath);
        var (max, mean) = golden.Compare(golden.RunTeacherForced(model));
        string line = $"{name}: max {max:E3} (tol {golden.MaxAbs}), mean {mean:E3} (tol {golden.MeanAbs}, mirrored target {golden.MirroredMeanAbs})";
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        if (Environment.GetEnvironmentVariable("FATHOM_GOLDEN_REPORT") is { Length: > 0 } report)
            File.AppendAllText(report, line + "\n");
        Assert.True(max <= golden.MaxAbs, $"{name}: max |d| {max:E3} > {golden.MaxAbs}");
        Assert.True(mean <= golden.MeanAbs, $"{name}: mean |d| {mean:E3} > {golden.MeanAbs}");
    }

    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void Free_running_greedy_tokens_match_llama_cpp(string name)
    {
        var golden = Golden.Load(name);
        Assert.SkipUnless(golden.MustMatchFreeRunning, "quantized: free-running tokens may legitimately differ");
        golden.SkipUnlessKernelsExist();
        using var model = Model.Load(golden.ModelPath);
        Assert.Equal([.. golden.GreedyTokens, golden.NextToken], model.Apply(golden.RunFree));
    }

    private static Model Random(TestGguf g) => Model.FromGguf(Gguf.GgufFile.FromBytes(g.ToBytes()));

    [Theory]
    [InlineData("llama", 0)]
    [InlineData("qwen2", 0)]
    [InlineData("qwen3", 0)]
    [InlineData("qwen3moe", 4)]
    [InlineData("llama", 4)]
    public void Prefill_equals_token_by_token_decode(string arch, int experts)
    {
        using var model = Random(TestGguf.RandomModel(arch, embd: 64, heads: 8, kvHeads: 2, experts: experts, used: experts / 2, keyLength: 24));
        int[] tokens = [3, 17, 4, 4, 40, 1, 22, 9, 31];
        var batch = model.CreateSession(32).Forward(tokens, allLogits: true).ToArray();
        var single = model.CreateSession(32);
        int v = model.Config.VocabSize;
        for (int t = 0; t < tokens.Length; t++)
        {
            var row = single.Forward(tokens.AsSpan(t, 1));
            for (int i = 0; i < v; i++)
                Assert.True(Math.Abs(row[i] - batch[t * v + i]) <= 1e-4f, $"row {t} logit {i}: {row[i]} vs {batch[t * v + i]}");
        }
        Assert.Equal(tokens.Length, single.Position);
    }

    [Fact]
    public void Long_inputs_split_into_micro_batches_give_the_same_logits()
    {
        using var model = Random(TestGguf.RandomModel("qwen2", embd: 32, heads: 2, kvHeads: 1, ff: 32));
        var tokens = Enumerable.Range(0, ModelSession.MicroBatch + 40).Select(i => (i * 7) % 48).ToArray();
        var whole = model.CreateSession(600).Forward(tokens, allLogits: true).ToArray();
        var parts = model.CreateSession(600);
        var first = parts.Forward(tokens.AsSpan(0, 300), allLogits: true).ToArray();
        var rest = parts.Forward(tokens.AsSpan(300), allLogits: true).ToArray();
        float[] split = [.. first, .. rest];
        Assert.Equal(whole.Length, split.Length);
        for (int i = 0; i < whole.Length; i++)
            Assert.True(Math.Abs(whole[i] - split[i]) <= 1e-4f, $"logit {i}: {whole[i]} vs {split[i]}");
        var lastOnly = model.CreateSession(600).Forward(tokens).ToArray();
        Assert.Equal(whole.AsSpan(whole.Length - 48).ToArray(), lastOnly);
    }

    [Fact]
    public void Results_do_not_depend_on_thread_count()
    {
        using var model = Model.Load(Fixtures.Model("tiny-qwen3moe-f32.gguf"));
        int[] tokens = [510, 84, 104, 101, 32, 113];
        var one = model.CreateSession(16, threads: 1).Forward(tokens, allLogits: true).ToArray();
        using var session = model.CreateSession(16, threads: 3);
        var three = session.Forward(tokens, allLogits: true).ToArray();
        Assert.Equal(one, three);
    }

    [Fact]
    public void Mixtral_moe_with_one_expert_equals_the_dense_model()
    {
        var moe = TestGguf.RandomModel("llama", experts: 1, used: 1, seed: 11);
        var dense = TestGguf.RandomModel("llama", seed: 11);
        for (int l = 0; l < 2; l++)
        {
            foreach (string p in new[] { "gate", "up", "down" })
            {
                dense.Remove($"blk.{l}.ffn_{p}.weight");
                var exp = moe.Data($"blk.{l}.ffn_{p}_exps.weight");
                long[] dims = p == "down" ? [96, 64] : [64, 96];
                dense.Tensor($"blk.{l}.ffn_{p}.weight", exp, dims);
            }
            foreach (string n in new[] { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm" })
            {
                var data = moe.Data($"blk.{l}.{n}.weight");
                Array.Copy(data, dense.Data($"blk.{l}.{n}.weight"), data.Length);
            }
        }
        foreach (string n in new[] { "token_embd", "output_norm", "output" })
            Array.Copy(moe.Data(n + ".weight"), dense.Data(n + ".weight"), moe.Data(n + ".weight").Length);
        using var a = Random(moe);
        using var b = Random(dense);
        int[] tokens = [1, 2, 3, 40, 7];
        Assert.Equal(b.CreateSession(8).Forward(tokens, true).ToArray(), a.CreateSession(8).Forward(tokens, true).ToArray());
    }

    [Fact]
    public void Context_overflow_and_bad_tokens_are_clear_errors()
    {
        using var model = Random(TestGguf.RandomModel("llama"));
        var session = model.CreateSession(4);
        var ex = Assert.Throws<ArgumentException>(() => session.Forward([1, 2, 3, 4, 5]));
        Assert.Contains("5 new tokens exceed the context of 4", ex.Message);
        Assert.Contains("48", Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward([48])).Message);
        session.Forward([1, 2, 3]);
        session.Reset();
        Assert.Equal(0, session.Position);
        session.Forward([1, 2, 3, 4]);
    }
}

internal static class ModelExtensions
{
    public static T Apply<T>(this Model model, Func<Model, T> f) => f(model);
}
