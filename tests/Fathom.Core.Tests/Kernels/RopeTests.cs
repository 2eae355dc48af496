using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class RopeTests
{
    [Theory]
    [InlineData(RopeLayout.Normal)]
    [InlineData(RopeLayout.NeoX)]
    public void RotatesPairsByPositionTimesInverseFrequency(RopeLayout layout)
    {
        const int dims = 32, headDim = 40, pos = 7;
        var rope = new Rope(dims, 10000f, layout);
        float[] x = KernelTestData.Floats(2 * headDim, 11), y = (float[])x.Clone();
        rope.Apply(y, headDim, pos);
        for (int h = 0; h < 2; h++)
        {
            for (int i = 0; i < dims / 2; i++)
            {
                double theta = pos * Math.Pow(10000, -2.0 * i / dims);
                int a = layout == RopeLayout.Normal ? 2 * i : i, b = layout == RopeLayout.Normal ? 2 * i + 1 : i + dims / 2;
                double x0 = x[h * headDim + a], x1 = x[h * headDim + b];
                Assert.Equal(x0 * Math.Cos(theta) - x1 * Math.Sin(theta), y[h * headDim + a], 1e-5);
                Assert.Equal(x0 * Math.Sin(theta) + x1 * Math.Cos(theta), y[h * headDim + b], 1e-5);
            }
            for (int i = dims; i < headDim; i++)
                Assert.Equal(x[h * headDim + i], y[h * headDim + i]);
        }
    }

    [Fact]
    public void ThetaIsRepeatedFloatMultiplicationDividedByFreqFactors()
    {
        const int dims = 16;
        float[] ff = [1, 2, 4, 8, 1, 1, 3, 1];
        var rope = new Rope(dims, 500000f, freqFactors: ff);
        var cache = new float[dims];
        rope.ComputeCache(123, cache);
        float s = MathF.Pow(500000f, -2f / dims), theta = 123;
        for (int i = 0; i < dims / 2; i++)
        {
            Assert.Equal(MathF.Cos(theta / ff[i]), cache[2 * i]);
            Assert.Equal(MathF.Sin(theta / ff[i]), cache[2 * i + 1]);
            theta *= s;
        }
    }

    [Fact]
    public void LinearScalingMultipliesTheta()
    {
        var plain = new Rope(8, 10000f);
        var scaled = new Rope(8, 10000f, freqScale: 0.25f);
        float[] a = new float[8], b = new float[8];
        plain.ComputeCache(40, a);
        scaled.ComputeCache(160, b);
        KernelTestData.Close(a, b, 2e-5f);
    }

    [Fact]
    public void YarnScalesMagnitudeAndBlendsFrequencies()
    {
        var yarn = new Rope(64, 10000f, freqScale: 0.25f, extFactor: 1f, originalContext: 4096);
        var cache = new float[64];
        yarn.ComputeCache(1000, cache);
        float mscale = 1 + 0.1f * MathF.Log(4f);
        for (int i = 0; i < 32; i++)
            Assert.Equal(mscale, MathF.Sqrt(cache[2 * i] * cache[2 * i] + cache[2 * i + 1] * cache[2 * i + 1]), 1e-5f);
        // Highest-frequency pair is extrapolated (unscaled θ = pos), the lowest is interpolated (θ·0.25).
        Assert.Equal(MathF.Cos(1000f) * mscale, cache[0], 1e-5f);
        float lowTheta = 1000f * MathF.Pow(10000f, -62f / 64f) * 0.25f;
        Assert.Equal(MathF.Cos(lowTheta) * mscale, cache[62], 1e-4f);
    }

    [Fact]
    public void ReproducesLlamaCppRopeOnQueriesAndKeys()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        int dims = (int)f.GetUInt32("llama.rope.dimension_count");
        var rope = new Rope(dims, f.GetFloat32("llama.rope.freq_base"));
        foreach (var (name, heads) in new[] { ("Qcur-0", 4), ("Kcur-0", 2) })
        {
            float[] x = KernelTestData.Hidden("tiny-llama-f32", name, 1);
            float[] expected = KernelTestData.Hidden("tiny-llama-f32", name, 2);
            int tokenWidth = heads * 64;
            for (int t = 0; t < x.Length / tokenWidth; t++)
                rope.Apply(x.AsSpan(t * tokenWidth, tokenWidth), 64, t);
            KernelTestData.Close(expected, x, 1e-6f, 1e-6f);
        }
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Rope(7, 10000f));
        Assert.Throws<ArgumentException>(() => new Rope(8, 10000f, freqFactors: new float[3]));
        Assert.Throws<ArgumentException>(() => new Rope(8, 10000f).Apply(new float[10], 6, 0));
    }
}
