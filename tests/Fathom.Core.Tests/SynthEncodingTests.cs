using Fathom.Gguf.Synth;

namespace Fathom.Tests;

public class SynthEncodingTests
{
    [Fact]
    public void ToHalf_matches_the_runtime_conversion_bit_for_bit()
    {
        var rng = new Random(17);
        var values = new List<float>
        {
            0f, -0f, 1f, -1f, 65504f, 65519.99f, 65520f, 65536f, -65520f, 1e-8f, 5.96e-8f, 2.98e-8f, 2.9802322e-8f, 6.1e-5f, 6.097e-5f, 6.1035156e-5f,
            float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon, 1.00048828125f, 1.000732421875f,
        };
        for (int i = 0; i < 200_000; i++)
            values.Add(BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue)));
        for (int i = 0; i < 200_000; i++)
            values.Add((float)(rng.NextDouble() * 2 - 1) * MathF.Pow(2, rng.Next(-26, 17)));
        // Exact halfway points between adjacent halves exercise round-to-nearest-even.
        for (int i = 0; i < 65536; i += 7)
        {
            float a = (float)BitConverter.UInt16BitsToHalf((ushort)i), b = (float)BitConverter.UInt16BitsToHalf((ushort)(i + 1));
            if (float.IsFinite(a) && float.IsFinite(b))
                values.Add((a + b) / 2);
        }
        var src = values.ToArray();
        var dst = new ushort[src.Length];
        SynthEncoding.ToHalf(src, dst);
        for (int i = 0; i < src.Length; i++)
        {
            var expected = (Half)src[i];
            if (Half.IsNaN(expected))
                Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(dst[i])), $"{src[i]}");
            else
                Assert.True(BitConverter.HalfToUInt16Bits(expected) == dst[i], $"{src[i]:R}: expected 0x{BitConverter.HalfToUInt16Bits(expected):X4}, got 0x{dst[i]:X4}");
        }
    }
}
