using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Tensors.Quants;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public unsafe class QuantDot128Tests
{
    public static TheoryData<GgmlType> Types => new() { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K };

    /// <summary>The 128-bit kernels give the AVX2 kernels' float bits (same lanes, same fold) and match the scalar reference.</summary>
    [Theory, MemberData(nameof(Types))]
    public void Kernel128MatchesAvx2BitsAndReference(GgmlType type)
    {
        Assert.SkipUnless(QuantDot128.IsSupported, "no SSSE3/AdvSimd on this machine");
        var dot = VecDot.PerRow(type).Dot;
        var reference = VecDot.Reference(type).Dot;
        int bs = GgmlTypeInfo.BlockSize(type);
        foreach (int nb in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 33, 64 })
        {
            for (int seed = 0; seed < 3; seed++)
            {
                int n = nb * bs;
                byte[] w = QuantDotTests.RandomRow(type, n, seed * 31 + nb);
                byte[] a = QuantDotTests.Activations(type, KernelTestData.Floats(n, seed + nb, seed == 2 ? 100f : 1f));
                float v128, r, f;
                fixed (byte* pw = w, pa = a)
                {
                    v128 = type switch
                    {
                        GgmlType.Q4_0 => QuantDot128.Q4_0((BlockQ4_0*)pw, (BlockQ8_0*)pa, nb),
                        GgmlType.Q8_0 => QuantDot128.Q8_0((BlockQ8_0*)pw, (BlockQ8_0*)pa, nb),
                        GgmlType.Q4_K => QuantDot128.Q4_K((BlockQ4_K*)pw, (BlockQ8_K*)pa, nb),
                        _ => QuantDot128.Q6_K((BlockQ6_K*)pw, (BlockQ8_K*)pa, nb),
                    };
                    r = reference(pw, pa, n);
                    f = dot(pw, pa, n);
                }
                if (Simd.UseAvx2Kernels)
                    Assert.True(BitConverter.SingleToInt32Bits(f) == BitConverter.SingleToInt32Bits(v128), $"{type} n={n}: 128-bit {v128:R} vs AVX2 {f:R}");
                Assert.True(Math.Abs(v128 - r) <= 1e-4f * (Math.Abs(r) + 1), $"{type} n={n}: 128-bit {v128:R} vs reference {r:R}");
            }
        }
    }
}
