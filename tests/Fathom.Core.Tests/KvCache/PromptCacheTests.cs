using Fathom.KvCache;
using Fathom.Models;
using Fathom.Tests.Models;

namespace Fathom.Tests.KvCache;

public sealed class PromptCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fathom-pc-" + Guid.NewGuid().ToString("N"));

    public PromptCacheTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly int[] Prompt = [.. Enumerable.Range(0, 90).Select(i => (i * 13 + 5) % 500)];

    [Theory]
    [InlineData(KvType.F16, KvType.F16)]
    [InlineData(KvType.Q8_0, KvType.Q4_0)]
    public void Reload_gives_the_logits_of_a_full_recompute(KvType k, KvType v)
    {
        using var m = Model.Load(Fixtures.Model("tiny-llama-f32.gguf"));
        var o = new SessionOptions { ContextLength = 128, KeyType = k, ValueType = v, PageSize = 16 };
        string file = Path.Combine(_dir, "p.bin");
        using (var s = m.CreateSession(o))
        {
            s.Forward(Prompt.AsSpan(0, 70));
            PromptCache.Save(s, Prompt.AsSpan(0, 70), file);
        }
        Assert.False(File.Exists(file + $".tmp{Environment.ProcessId}"));
        using var fresh = m.CreateSession(o with { PageSize = 32 });
        var expected = fresh.Forward(Prompt).ToArray();
        using var reloaded = m.CreateSession(o with { PageSize = 32 });
        // a prompt that diverges at 60 reuses 60 tokens
        int[] other = [.. Prompt[..60], 1, 2, 3];
        Assert.Equal(60, PromptCache.Load(reloaded, file, other));
        Assert.Equal(60, reloaded.Position);
        Assert.Equal(70, PromptCache.Load(reloaded, file, Prompt));
        var actual = reloaded.Forward(Prompt.AsSpan(70)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Unusable_files_are_typed_errors()
    {
        using var m = Model.Load(Fixtures.Model("tiny-llama-f32.gguf"));
        using var other = Model.Load(Fixtures.Model("tiny-llama-rope-f32.gguf"));
        string file = Path.Combine(_dir, "p.bin");
        using (var s = m.CreateSession(64))
        {
            s.Forward(Prompt.AsSpan(0, 40));
            PromptCache.Save(s, Prompt.AsSpan(0, 40), file);
        }
        using var s2 = m.CreateSession(64);
        Assert.Equal(0, PromptCache.Load(s2, Path.Combine(_dir, "missing.bin"), Prompt));
        using var so = other.CreateSession(64);
        Assert.Contains("different model", Assert.Throws<PromptCacheException>(() => PromptCache.Load(so, file, Prompt)).Message);
        using var q8 = m.CreateSession(new SessionOptions { ContextLength = 64, KeyType = KvType.Q8_0 });
        Assert.Throws<PromptCacheException>(() => PromptCache.Load(q8, file, Prompt));
        var bytes = File.ReadAllBytes(file);
        foreach (int cut in new[] { 0, 7, 50, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(file + ".cut", bytes[..cut]);
            Assert.Throws<PromptCacheException>(() => PromptCache.Load(s2, file + ".cut", Prompt));
        }
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 3] ^= 0x40;
        File.WriteAllBytes(file + ".flip", flipped);
        Assert.Throws<PromptCacheException>(() => PromptCache.Load(s2, file + ".flip", Prompt));
    }
}
