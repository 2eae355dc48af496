using Fathom.KvCache;
using Fathom.Models;
using Fathom.Tests.Models;

namespace Fathom.Tests.KvCache;

public class SessionOptionsTests
{
    private static Model Random(int seed = 7) => Model.FromGguf(Gguf.GgufFile.FromBytes(
        TestGguf.RandomModel("llama", embd: 64, heads: 4, kvHeads: 2, keyLength: 32, vocab: 48, seed: seed).ToBytes()));

    private static readonly int[] Tokens = [.. Enumerable.Range(0, 150).Select(i => (i * 7 + 3) % 48)];

    private static float[] Run(Model m, SessionOptions o, bool all = true)
    {
        using var s = m.CreateSession(o with { ContextLength = 256 });
        var prefix = s.Forward(Tokens.AsSpan(0, 140), allLogits: all).ToArray();
        var rest = new List<float>(prefix);
        for (int t = 140; t < Tokens.Length; t++)
            rest.AddRange(s.Forward(Tokens.AsSpan(t, 1)).ToArray());
        return [.. rest];
    }

    private static void AssertClose(float[] a, float[] b, float tol, string what)
    {
        Assert.Equal(a.Length, b.Length);
        float worst = 0;
        for (int i = 0; i < a.Length; i++)
            worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        Assert.True(worst <= tol, $"{what}: max |d| {worst:E3} > {tol}");
    }

    [Fact]
    public void Chunked_prefill_equals_one_batch()
    {
        using var m = Random();
        var one = Run(m, new SessionOptions());
        var chunked = Run(m, new SessionOptions { UBatch = 17 });
        AssertClose(one, chunked, 1e-5f, "ubatch 17");
    }

    [Fact]
    public void Tiled_attention_is_close_to_the_exact_path()
    {
        using var m = Random();
        var exact = Run(m, new SessionOptions { Attention = AttentionPath.Exact });
        var tiled = Run(m, new SessionOptions { Attention = AttentionPath.Tiled, Threads = 2, PageSize = 16 });
        AssertClose(exact, tiled, 1e-2f, "tiled vs exact");
    }

    [Theory]
    [InlineData(null, 1)]
    // Quest reads a few scattered pages per step: those on disk come back through the gather of the pages it chose.
    [InlineData("quest:page=8:dense=0", 2)]
    public void Kv_past_the_ram_budget_spills_to_disk_with_identical_logits(string? policy, int threads)
    {
        string dir = Path.Combine(Path.GetTempPath(), "fathom-kv-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var m = Random();
            var o = new SessionOptions { Attention = AttentionPath.Tiled, PageSize = 8, Threads = threads, KvPolicy = policy, KvBudget = policy is null ? 0 : 32 };
            var ram = Run(m, o);
            if (policy is not null)
                Assert.NotEqual(Run(m, o with { KvPolicy = null, KvBudget = 0 }), ram); // the policy reads fewer pages than all
            using var s = m.CreateSession(o with { ContextLength = 256, KvRamBytes = 4096, SpillDirectory = dir });
            var rows = new List<float>(s.Forward(Tokens.AsSpan(0, 140), allLogits: true).ToArray());
            for (int t = 140; t < Tokens.Length; t++)
                rows.AddRange(s.Forward(Tokens.AsSpan(t, 1)).ToArray());
            var st = s.KvCache.Accounting.Tiers;
            Assert.True(st.DiskBytes > st.RamBytes, $"{st.DiskBytes} on disk, {st.RamBytes} in RAM");
            Assert.True(st.RamBytes <= 4096);
            Assert.True(st.DiskReads > 0);
            AssertClose(ram, [.. rows], 0f, "spilled");
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData(KvType.F32, KvType.F32, 2e-3f)]
    [InlineData(KvType.Q8_0, KvType.Q8_0, 0.05f)]
    [InlineData(KvType.Q4_0, KvType.Q8_0, 0.5f)]
    public void Cache_types_run_and_stay_near_f16(KvType k, KvType v, float tol)
    {
        using var m = Random();
        var f16 = Run(m, new SessionOptions { Attention = AttentionPath.Tiled }, all: false);
        var other = Run(m, new SessionOptions { KeyType = k, ValueType = v }, all: false);
        AssertClose(f16, other, tol, $"{k}/{v}");
    }

    [Fact]
    public void Exact_path_refuses_quantized_caches()
    {
        using var m = Random();
        Assert.Throws<ArgumentException>(() => m.CreateSession(new SessionOptions { Attention = AttentionPath.Exact, KeyType = KvType.Q8_0 }));
    }

    [Fact]
    public void Forked_sequences_share_the_prompt_pages()
    {
        using var m = Random();
        using var s = m.CreateSession(new SessionOptions { ContextLength = 256 });
        s.Forward(Tokens.AsSpan(0, 100));
        int used = s.KvCache.Accounting.PagesUsed;
        var fork = s.KvCache.Fork(s.Sequence);
        Assert.Equal(used, s.KvCache.Accounting.PagesUsed);
        s.KvCache.Free(fork);
        s.Reset();
        Assert.Equal(0, s.KvCache.Accounting.PagesUsed);
    }
}
