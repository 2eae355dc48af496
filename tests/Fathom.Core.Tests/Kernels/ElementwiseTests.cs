using CsCheck;
using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class ElementwiseTests
{
    public static TheoryData<int> Sizes => new() { 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 100, 255, 256, 1000 };

    [Theory, MemberData(nameof(Sizes))]
    public void AddMulScaleMatchScalar(int n)
    {
        float[] a = KernelTestData.Floats(n, 1), b = KernelTestData.Floats(n, 2), y = new float[n];
        Elementwise.Add(a, b, y);
        for (int i = 0; i < n; i++)
            Assert.Equal(a[i] + b[i], y[i]);
        Elementwise.Mul(a, b, y);
        for (int i = 0; i < n; i++)
            Assert.Equal(a[i] * b[i], y[i]);
        Elementwise.Scale(a, 0.37f, y);
        for (int i = 0; i < n; i++)
            Assert.Equal(a[i] * 0.37f, y[i]);
    }

    [Theory, MemberData(nameof(Sizes))]
    [InlineData(48)]
    [InlineData(8192)]
    public void GgmlSwiGluIsItsLaneStatementBitForBit(int n)
    {
        // Whole 16-lane groups take ggml_v_expf (Exp(float) per lane), the tail expf: the same bits on every ISA.
        float[] g = KernelTestData.Floats(n, 5, 12), u = KernelTestData.Floats(n, 6), y = (float[])g.Clone();
        Fathom.Models.GgmlMath.SwiGlu(y, u);
        int whole = n / Fathom.Models.GgmlMath.Lanes * Fathom.Models.GgmlMath.Lanes;
        for (int i = 0; i < n; i++)
        {
            float e = i < whole ? Fathom.Models.GgmlMath.Exp(0f - g[i]) : MathF.Exp(-g[i]);
            float want = g[i] / (1f + e) * u[i];
            Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(y[i]), $"n={n} [{i}]: {y[i]:R} vs {want:R}");
        }
    }

    // ExpInRange is Exp without the lane-by-lane fallback: inside [−87, 87] every lane is Exp(float)'s bits, on both
    // widths; NaN stays NaN.
    [Fact]
    public void ExpInRange_is_ggml_exp_bit_for_bit_inside_its_range()
    {
        Gen.Float[-87f, 87f].Array[16].Sample(x =>
        {
            x[3] = -87f;
            x[7] = 87f;
            var wide = Fathom.Models.GgmlMath.ExpInRange(System.Runtime.Intrinsics.Vector512.Create((ReadOnlySpan<float>)x));
            var lo = Fathom.Models.GgmlMath.ExpInRange(System.Runtime.Intrinsics.Vector256.Create((ReadOnlySpan<float>)x));
            for (int i = 0; i < 16; i++)
            {
                int want = BitConverter.SingleToInt32Bits(Fathom.Models.GgmlMath.Exp(x[i]));
                Assert.Equal(want, BitConverter.SingleToInt32Bits(wide[i]));
                if (i < 8)
                    Assert.Equal(want, BitConverter.SingleToInt32Bits(lo[i]));
            }
        });
        var nan = Fathom.Models.GgmlMath.ExpInRange(System.Runtime.Intrinsics.Vector512.Create(float.NaN));
        Assert.True(float.IsNaN(nan[0]));
    }

    [Theory, MemberData(nameof(Sizes))]
    public void SiluAndSwiGluMatchFormula(int n)
    {
        float[] g = KernelTestData.Floats(n, 3, 8), u = KernelTestData.Floats(n, 4), y = new float[n], z = new float[n];
        Elementwise.Silu(g, y);
        Elementwise.SwiGlu(g, u, z);
        for (int i = 0; i < n; i++)
        {
            double s = g[i] / (1 + Math.Exp(-g[i]));
            Assert.Equal(s, y[i], 1e-6 * Math.Max(1, Math.Abs(s)));
            Assert.Equal(s * u[i], z[i], 1e-6 * Math.Max(1, Math.Abs(s)));
        }
    }

    [Fact]
    public void GeluMatchesTanhApproximation()
    {
        float[] x = KernelTestData.Floats(300, 5, 6), y = new float[300];
        Elementwise.Gelu(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double e = 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * v * (1 + 0.044715 * v * v)));
            Assert.Equal(e, y[i], 1e-5);
        }
    }

    [Theory, MemberData(nameof(Sizes))]
    public void SoftmaxSumsToOneAndMatchesDouble(int n)
    {
        float[] x = KernelTestData.Floats(n, 6, 20), y = new float[n];
        Elementwise.Softmax(x, y);
        double max = x.Max(), sum = x.Sum(v => Math.Exp(v - max));
        for (int i = 0; i < n; i++)
            Assert.Equal(Math.Exp(x[i] - max) / sum, y[i], 1e-6);
    }

    [Fact]
    public void SoftmaxIsFiniteForHugeInputsAndZeroForMasked()
    {
        float[] x = [1e30f, 3e38f, float.NegativeInfinity, 3e38f, -3e38f], y = new float[5];
        Elementwise.Softmax(x, y);
        Assert.Equal([0f, 0.5f, 0f, 0.5f, 0f], y);
        Assert.Throws<ArgumentException>(() => Elementwise.Softmax([float.NegativeInfinity], new float[1]));
    }

    [Fact]
    public void RmsNormMatchesDoubleFormulaAndRunsInPlace()
    {
        float[] x = KernelTestData.Floats(257, 7, 3), w = KernelTestData.Floats(257, 8), y = new float[257];
        Elementwise.RmsNorm(x, w, y, 1e-5f);
        double ms = x.Sum(v => (double)v * v) / x.Length;
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(x[i] / Math.Sqrt(ms + 1e-5) * w[i], y[i], 1e-5);
        Elementwise.RmsNorm(x, w, x, 1e-5f);
        Assert.Equal(y, x);
    }

    [Fact]
    public void RmsNormReproducesLlamaCppLayerOneAttentionNorm()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        float eps = f.GetFloat32("llama.attention.layer_norm_rms_epsilon");
        var w = f.GetTensor("blk.1.attn_norm.weight").AsFloats();
        float[] input = KernelTestData.Hidden("tiny-llama-f32", "l_out-0");
        float[] expected = KernelTestData.Hidden("tiny-llama-f32", "attn_norm-1");
        int d = w.Length;
        var y = new float[input.Length];
        for (int t = 0; t < input.Length / d; t++)
            Elementwise.RmsNorm(input.AsSpan(t * d, d), w, y.AsSpan(t * d, d), eps);
        KernelTestData.Close(expected, y, 1e-6f, 1e-6f);
    }

    [Fact]
    public void LengthMismatchThrows()
    {
        Assert.Throws<ArgumentException>(() => Elementwise.Add(new float[3], new float[4], new float[3]));
        Assert.Throws<ArgumentException>(() => Elementwise.RmsNorm(new float[3], new float[2], new float[3], 1e-5f));
    }
}
