using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

public class Fp16Tests
{
    // An independent round-to-nearest-even float→half written from the IEEE definition.
    private static ushort ReferenceFromFloat(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        uint sign = (u >> 16) & 0x8000;
        if (float.IsNaN(f)) return (ushort)(sign | 0x7E00);
        double a = Math.Abs((double)f);
        if (a >= 65520.0) return (ushort)(sign | 0x7C00);
        if (a < Math.Pow(2, -14))
        {
            double m = Math.Round(a / Math.Pow(2, -24), MidpointRounding.ToEven);
            return (ushort)(sign | (uint)m);
        }
        int e = (int)Math.Floor(Math.Log2(a));
        if (Math.Pow(2, e) > a) e--;
        if (Math.Pow(2, e + 1) <= a) e++;
        double mant = Math.Round(a / Math.Pow(2, e - 10), MidpointRounding.ToEven);
        if (mant >= 2048) { mant /= 2; e++; }
        if (e > 15) return (ushort)(sign | 0x7C00);
        return (ushort)(sign | (uint)((e + 15) << 10) | ((uint)mant - 1024));
    }

    [Fact]
    public void FromFloat_rounds_to_nearest_even_like_ggml()
    {
        var rng = new Random(7);
        for (int i = 0; i < 200_000; i++)
        {
            float f = BitConverter.Int32BitsToSingle(rng.Next(0x30000000, 0x48000000) | (rng.Next(2) << 31));
            Assert.Equal(ReferenceFromFloat(f), Fp16.FromFloat(f));
        }
        Assert.Equal(0x3C00, Fp16.FromFloat(1f));
        Assert.Equal(0x7C00, Fp16.FromFloat(1e6f));
        Assert.Equal(0x0001, Fp16.FromFloat(6e-8f));
        Assert.Equal(0x7E00, Fp16.FromFloat(float.NaN) & 0x7FFF);
        Assert.Equal(0x3C00, Fp16.FromFloat(1f + 1f / 2048)); // tie → even
        Assert.Equal(0x3C02, Fp16.FromFloat(1f + 3f / 2048)); // tie → even (up)
    }

    [Fact]
    public void ToFloat_is_exact_for_every_half()
    {
        for (int h = 0; h < 0x10000; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float actual = Fp16.ToFloat((ushort)h);
            if (float.IsNaN(expected))
                Assert.True(float.IsNaN(actual), $"0x{h:x4}");
            else
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    [Fact]
    public void Every_half_round_trips()
    {
        for (int h = 0; h < 0x10000; h++)
        {
            float f = Fp16.ToFloat((ushort)h);
            if (float.IsNaN(f)) continue;
            Assert.Equal((ushort)h, Fp16.FromFloat(f));
        }
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even_and_quiets_nan()
    {
        Assert.Equal(0x3F80, Bf16.FromFloat(1f));
        Assert.Equal(0x3F80, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal(0x3F82, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.Equal(0x3F81, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F808001)));
        Assert.Equal(0x7FC1, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F810000)));
        Assert.Equal(0x0001, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x00010000))); // subnormal kept
        Assert.Equal(1.5f, Bf16.ToFloat(0x3FC0));
    }
}
