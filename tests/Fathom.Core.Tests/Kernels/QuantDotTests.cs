using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Tensors.Quants;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public unsafe class QuantDotTests
{
    public static TheoryData<GgmlType> Types => new()
    {
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.IQ4_NL,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS,
    };

    /// <summary>Random blocks of <paramref name="type"/>: random quant bits, f16 scales in a sane range.</summary>
    internal static byte[] RandomRow(GgmlType type, int elements, int seed)
    {
        var rng = new Random(seed);
        int bs = GgmlTypeInfo.BlockSize(type), ts = GgmlTypeInfo.TypeSize(type), nb = elements / bs;
        var bytes = new byte[nb * ts];
        rng.NextBytes(bytes);
        ushort Scale() => Fp16.FromFloat((float)(rng.NextDouble() * 0.02 + 0.001) * (rng.Next(2) == 0 ? 1 : -1));
        fixed (byte* p = bytes)
        {
            for (int b = 0; b < nb; b++)
            {
                byte* blk = p + b * ts;
                switch (type)
                {
                    case GgmlType.Q4_0: case GgmlType.Q5_0: case GgmlType.Q8_0: case GgmlType.IQ4_NL: case GgmlType.IQ4_XS:
                        *(ushort*)blk = Scale();
                        break;
                    case GgmlType.Q4_1: case GgmlType.Q5_1: case GgmlType.Q4_K: case GgmlType.Q5_K:
                        *(ushort*)blk = Scale();
                        *(ushort*)(blk + 2) = Scale();
                        break;
                    case GgmlType.Q2_K:
                        ((BlockQ2_K*)blk)->D = Scale();
                        ((BlockQ2_K*)blk)->DMin = Scale();
                        break;
                    case GgmlType.Q3_K:
                        ((BlockQ3_K*)blk)->D = Scale();
                        break;
                    case GgmlType.Q6_K:
                        ((BlockQ6_K*)blk)->D = Scale();
                        break;
                }
            }
        }
        return bytes;
    }

    internal static byte[] Activations(GgmlType weightType, float[] x)
    {
        var at = Q8Activations.VecDotType(weightType);
        var a = new byte[GgmlTypeInfo.RowSize(at, x.Length)];
        Q8Activations.Row(at, x, a);
        return a;
    }

    /// <summary>Σ dequant(w)·dequant(a) in double, and Σ|·| as the scale of rounding differences.</summary>
    private static (double Dot, double Scale) Exact(GgmlType type, byte[] w, byte[] a, int n)
    {
        float[] wf = new float[n], af = new float[n];
        Dequantize.Row(type, w, wf);
        Dequantize.Row(Q8Activations.VecDotType(type), a, af);
        double dot = 0, scale = 0;
        for (int i = 0; i < n; i++)
        {
            dot += (double)wf[i] * af[i];
            scale += Math.Abs((double)wf[i] * af[i]);
        }
        return (dot, scale);
    }

    [Theory, MemberData(nameof(Types))]
    public void SimdMatchesReferenceAndReferenceMatchesDequantizedDot(GgmlType type)
    {
        var fast = VecDot.For(type);
        var reference = VecDot.Reference(type);
        int bs = GgmlTypeInfo.BlockSize(type);
        for (int nb = 1; nb <= (bs == 32 ? 72 : 9); nb += nb < 8 ? 1 : 31)
        {
            for (int seed = 0; seed < 4; seed++)
            {
                int n = nb * bs;
                byte[] w = RandomRow(type, n, seed * 100 + nb);
                float[] x = KernelTestData.Floats(n, seed + 7 * nb, seed == 3 ? 100f : 1f);
                byte[] a = Activations(type, x);
                float f, r;
                fixed (byte* pw = w, pa = a)
                {
                    f = fast.Dot(pw, pa, n);
                    r = reference.Dot(pw, pa, n);
                }
                var (exact, scale) = Exact(type, w, a, n);
                Assert.True(Math.Abs(f - r) <= 1e-5 * scale + 1e-7, $"{type} n={n} seed={seed}: simd {f:R} vs reference {r:R} (scale {scale})");
                Assert.True(Math.Abs(r - exact) <= 2e-3 * scale + 1e-7, $"{type} n={n} seed={seed}: reference {r:R} vs dequantized {exact:R} (scale {scale})");
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void MatMulMatchesReferenceRowByRow(GgmlType type)
    {
        int bs = GgmlTypeInfo.BlockSize(type), cols = bs * 3;
        foreach (var (rows, n) in new[] { (1, 1), (17, 1), (33, 3), (7, 6), (5, 40) })
        {
            byte[] w = KernelsTests.Pinned(RandomRow(type, cols * rows, rows));
            float[] x = KernelTestData.Floats(cols * n, n + rows);
            var view = KernelsTests.View(type, cols, rows, w);
            float[] y = new float[rows * n], yr = new float[rows * n];
            Kernels.MatMul(view, x, n, y, KernelsTestsPool.Pool);
            Kernels.MatMul(view, x, n, yr, null, VecDot.Reference(type));
            var wf = new float[cols * rows];
            Dequantize.Row(type, w.AsSpan(0, (int)GgmlTypeInfo.RowSize(type, cols * rows)), wf);
            for (int j = 0; j < n; j++)
            {
                for (int r = 0; r < rows; r++)
                {
                    double scale = 0;
                    for (int c = 0; c < cols; c++)
                        scale += Math.Abs((double)wf[r * cols + c] * x[j * cols + c]);
                    int i = j * rows + r;
                    Assert.True(Math.Abs(y[i] - yr[i]) <= 1e-5 * scale + 1e-6, $"{type} rows={rows} n={n} [{i}]: {y[i]:R} vs {yr[i]:R} (scale {scale})");
                }
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void BatchedRowsEqualOneRowAtATimeExactly(GgmlType type)
    {
        int cols = GgmlTypeInfo.BlockSize(type) * 4, rows = 9, n = 7;
        byte[] w = KernelsTests.Pinned(RandomRow(type, cols * rows, 5));
        float[] x = KernelTestData.Floats(cols * n, 9);
        var view = KernelsTests.View(type, cols, rows, w);
        float[] batched = new float[rows * n], single = new float[rows];
        Kernels.MatMul(view, x, n, batched, KernelsTestsPool.Pool);
        for (int j = 0; j < n; j++)
        {
            Kernels.MatVec(view, x.AsSpan(j * cols, cols), single);
            Assert.Equal(single, batched.AsSpan(j * rows, rows).ToArray());
        }
    }

    [Fact]
    public void Q8_0ProjectionMatchesLlamaCppQueries()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-q8_0.gguf"));
        var w = f.GetTensor("blk.0.attn_q.weight");
        Assert.Equal(GgmlType.Q8_0, w.Type);
        float[] x = KernelTestData.Hidden("tiny-llama-q8_0", "attn_norm-0");
        float[] expected = KernelTestData.Hidden("tiny-llama-q8_0", "Qcur-0");
        int n = x.Length / (int)w.Columns;
        var y = new float[n * w.Rows];
        Kernels.MatMul(w, x, n, y, KernelsTestsPool.Pool);
        KernelTestData.Close(expected, y, 1e-6f, 1e-6f);
    }
}

internal static class KernelsTestsPool
{
    public static readonly Fathom.Threading.WorkerPool Pool = new(2, 200);
}
