using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

[Trait("Category", "Kernels")]
public unsafe class Q8ActivationsTests
{
    private static float[] RandomActivations(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Exp(rng.NextDouble() * 4 - 2));
        // Plant exact midpoints and ties so rounding mode and max selection are exercised.
        if (n >= 64)
        {
            x[3] = 127f; x[4] = 0.5f; x[5] = -1.5f; x[6] = 2.5f;
            x[40] = -9f; x[41] = 9f; x[42] = 4.5f;
        }
        return x;
    }

    public static TheoryData<int> Sizes() => new(32, 64, 96, 256, 512, 768, 2048);

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Q8_0_and_Q8_1_simd_equal_reference(int n)
    {
        var x = RandomActivations(n, n);
        var a = new BlockQ8_0[n / 32];
        var r = new BlockQ8_0[n / 32];
        var a1 = new BlockQ8_1[n / 32];
        var r1 = new BlockQ8_1[n / 32];
        Q8Activations.Q8_0(x, a);
        Q8Activations.Q8_1(x, a1);
        fixed (float* px = x)
        fixed (BlockQ8_0* pr = r)
        fixed (BlockQ8_1* pr1 = r1)
        {
            Q8Activations.Q8_0Reference(px, pr, n / 32);
            Q8Activations.Q8_1Reference(px, pr1, n / 32);
        }
        Assert.Equal(Bytes(r), Bytes(a));
        Assert.Equal(Bytes(r1), Bytes(a1));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Q8_K_simd_equals_reference(int n)
    {
        if (n % 256 != 0) return;
        var x = RandomActivations(n, n + 1);
        var a = new BlockQ8_K[n / 256];
        var r = new BlockQ8_K[n / 256];
        Q8Activations.Q8_K(x, a);
        fixed (float* px = x)
        fixed (BlockQ8_K* pr = r)
            Q8Activations.Q8_KReference(px, pr, n / 256);
        Assert.Equal(Bytes(r), Bytes(a));
    }

    [Fact]
    public void Q8_0_rounds_half_to_even_with_127_over_amax()
    {
        var x = new float[32];
        x[0] = 127f; x[1] = 0.5f; x[2] = 1.5f; x[3] = -2.5f; x[4] = 2.4f;
        var y = new BlockQ8_0[1];
        Q8Activations.Q8_0(x, y);
        Assert.Equal(127, y[0].Qs[0]);
        Assert.Equal(0, y[0].Qs[1]);
        Assert.Equal(2, y[0].Qs[2]);
        Assert.Equal(-2, y[0].Qs[3]);
        Assert.Equal(2, y[0].Qs[4]);
        Assert.Equal(Fp16.FromFloat(1f), y[0].D);
        // The weight quantizer rounds halves away from zero instead.
        var w = new byte[34];
        Quantize.Row(GgmlType.Q8_0, x, w);
        Assert.Equal(1, (sbyte)w[3]);
        Assert.Equal(-3, (sbyte)w[5]);
    }

    [Fact]
    public void Q8_1_sum_uses_unrounded_d()
    {
        var x = new float[32];
        for (int i = 0; i < 32; i++) x[i] = 0.1f * (i + 1);
        var y = new BlockQ8_1[1];
        Q8Activations.Q8_1(x, y);
        int sum = 0;
        for (int i = 0; i < 32; i++) sum += y[0].Qs[i];
        Assert.Equal(Fp16.FromFloat(3.2f / 127f * sum), y[0].S);
    }

    [Fact]
    public void Q8_K_takes_the_first_largest_magnitude_with_its_sign()
    {
        var x = new float[256];
        x[10] = -2f; x[20] = 2f; x[30] = 1f; x[31] = -1f; x[40] = 0.03f;
        var y = new BlockQ8_K[1];
        Q8Activations.Q8_K(x, y);
        // max = −2 (first of the ties), iscale = −127/−2 = 63.5, d = 1/iscale.
        Assert.Equal(1f / 63.5f, y[0].D);
        Assert.Equal(-127, y[0].Qs[10]);
        Assert.Equal(127, y[0].Qs[20]);
        Assert.Equal(64, y[0].Qs[30]); // round-half-even(63.5)
        Assert.Equal(-64, y[0].Qs[31]); // round-half-even(−63.5)
        Assert.Equal(2, y[0].Qs[40]);
        Assert.Equal(-127, y[0].BSums[0]);
        Assert.Equal(127 + 64 - 64, y[0].BSums[1]);
        Assert.Equal(2, y[0].BSums[2]);
        x.AsSpan().Clear();
        Q8Activations.Q8_K(x, y);
        Assert.Equal(0f, y[0].D);
        Assert.Equal(0, y[0].BSums[3]);
    }

    [Fact]
    public void Vec_dot_types_follow_llama_cpp()
    {
        Assert.Equal(GgmlType.Q8_0, Q8Activations.VecDotType(GgmlType.IQ4_NL));
        Assert.Equal(GgmlType.Q8_1, Q8Activations.VecDotType(GgmlType.Q5_1));
        Assert.Equal(GgmlType.Q8_K, Q8Activations.VecDotType(GgmlType.IQ4_XS));
        Assert.Equal(GgmlType.F32, Q8Activations.VecDotType(GgmlType.F32));
    }

    private static byte[] Bytes<T>(T[] blocks) where T : unmanaged
        => System.Runtime.InteropServices.MemoryMarshal.AsBytes(blocks.AsSpan()).ToArray();
}
