using Fathom.Models;

namespace Fathom.Tests.KvCache;

public class ContextShiftTests
{
    private static readonly int[] Tokens = [.. Enumerable.Range(0, 40).Select(i => (i * 29 + 11) % 500)];

    [Theory]
    [InlineData("tiny-llama-f32.gguf")]
    [InlineData("tiny-qwen2-f32.gguf")]
    public void Shifted_keys_equal_keys_computed_at_their_new_positions(string name)
    {
        using var m = Model.Load(Fixtures.Model(name));
        using var s = m.CreateSession(64);
        s.Forward(Tokens);
        Assert.Equal(18, s.Shift(4));
        Assert.Equal(22, s.Position);
        Assert.Equal(Enumerable.Range(0, 22), s.Sequence.Positions(0).ToArray());
        Assert.True(s.Sequence.IsDense);

        int[] kept = [.. Tokens[..4], .. Tokens[22..]];
        using var fresh = m.CreateSession(64);
        fresh.Forward(kept);
        int dk = m.Config.KeyLength;
        var a = new float[dk];
        var b = new float[dk];
        double worst = 0, scale = 0;
        for (int slot = 0; slot < 22; slot++)
        {
            for (int h = 0; h < m.Config.HeadCountKv; h++)
            {
                s.Sequence.ReadKey(0, slot, h, a);
                fresh.Sequence.ReadKey(0, slot, h, b);
                for (int i = 0; i < dk; i++)
                {
                    worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
                    scale = Math.Max(scale, Math.Abs(b[i]));
                }
            }
        }
        Assert.True(worst <= 2e-3 * scale, $"max |d| {worst:E3} vs max |k| {scale:E3}");

        // decoding continues at the shifted position
        var after = s.Forward([Tokens[0]]).ToArray();
        Assert.Equal(23, s.Position);
        Assert.All(after, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Shift_without_room_is_refused()
    {
        using var m = Model.Load(Fixtures.Model("tiny-llama-f32.gguf"));
        using var s = m.CreateSession(64);
        s.Forward(Tokens.AsSpan(0, 5));
        Assert.Throws<InvalidOperationException>(() => s.Shift(4));
    }

    [Fact]
    public void Rope_overrides_apply_and_default_to_the_file()
    {
        using var m = Model.Load(Fixtures.Model("tiny-llama-f32.gguf"));
        float[] Run(RopeOverrides? r)
        {
            using var s = m.CreateSession(new SessionOptions { ContextLength = 64, Rope = r });
            return s.Forward(Tokens).ToArray();
        }
        var plain = Run(null);
        Assert.Equal(plain, Run(new RopeOverrides { FreqBase = m.Config.RopeFreqBase }));
        Assert.NotEqual(plain, Run(new RopeOverrides { Scaling = RopeScalingType.Linear, Factor = 2f }));
        Assert.NotEqual(plain, Run(new RopeOverrides { Scaling = RopeScalingType.Yarn, Factor = 4f, OriginalContextLength = 16 }));
        var cfg = new RopeOverrides { Scaling = RopeScalingType.Linear, Factor = 4f }.Apply(m.Config);
        Assert.Equal(0.25f, cfg.RopeFreqScale);
        Assert.Throws<ArgumentException>(() => new RopeOverrides { FreqBase = -1f }.Apply(m.Config));
    }
}
