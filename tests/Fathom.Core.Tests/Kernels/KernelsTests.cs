using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public unsafe class KernelsTests
{
    private static readonly WorkerPool Pool = new(2, 200);

    /// <summary>Weight bytes in pinned memory so a TensorView can point at them.</summary>
    internal static TensorView View(GgmlType type, int cols, int rows, byte[] pinned) =>
        new("w", type, [cols, rows], (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0), pinned.Length);

    internal static byte[] Pinned(ReadOnlySpan<byte> bytes)
    {
        var a = GC.AllocateUninitializedArray<byte>(Math.Max(1, bytes.Length), pinned: true);
        bytes.CopyTo(a);
        return a;
    }

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 7, 1, 1 }, { 16, 5, 1 }, { 33, 17, 2 }, { 64, 31, 3 }, { 256, 40, 1 }, { 100, 9, 35 }, { 512, 3, 4 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void F32MatMulMatchesDoubleReference(int cols, int rows, int n)
    {
        float[] w = KernelTestData.Floats(cols * rows, cols + rows), x = KernelTestData.Floats(cols * n, n);
        var pinned = Pinned(MemoryMarshal.AsBytes(w.AsSpan()));
        var y = new float[rows * n];
        Kernels.MatMul(View(GgmlType.F32, cols, rows, pinned), x, n, y, Pool);
        for (int j = 0; j < n; j++)
            for (int r = 0; r < rows; r++)
                Assert.Equal(FloatDot.F32Reference(w.AsSpan(r * cols, cols), x.AsSpan(j * cols, cols)), y[j * rows + r], 1e-5f * cols);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void F16MatMulRoundsActivationsToF16(int cols, int rows, int n)
    {
        float[] wf = KernelTestData.Floats(cols * rows, cols + rows), x = KernelTestData.Floats(cols * n, n);
        var w = new ushort[wf.Length];
        FloatDot.ToF16(wf, w);
        var pinned = Pinned(MemoryMarshal.AsBytes(w.AsSpan()));
        var y = new float[rows * n];
        Kernels.MatMul(View(GgmlType.F16, cols, rows, pinned), x, n, y, null);
        var xh = new ushort[cols];
        for (int j = 0; j < n; j++)
        {
            FloatDot.ToF16(x.AsSpan(j * cols, cols), xh);
            for (int r = 0; r < rows; r++)
                Assert.Equal(FloatDot.F16Reference(w.AsSpan(r * cols, cols), xh), y[j * rows + r], 1e-5f * cols);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(67)]
    [InlineData(1000)]
    public void DotMatchesDoubleSum(int n)
    {
        float[] a = KernelTestData.Floats(n, 1), b = KernelTestData.Floats(n, 2);
        Assert.Equal(FloatDot.F32Reference(a, b), Kernels.Dot(a, b), 1e-5f * Math.Max(1, n));
        Assert.Throws<ArgumentException>(() => Kernels.Dot(new float[3], new float[2]));
    }

    [Fact]
    public void MatVecEqualsOneRowMatMul()
    {
        float[] w = KernelTestData.Floats(64 * 10, 1), x = KernelTestData.Floats(64, 2);
        var pinned = Pinned(MemoryMarshal.AsBytes(w.AsSpan()));
        float[] a = new float[10], b = new float[10];
        Kernels.MatVec(View(GgmlType.F32, 64, 10, pinned), x, a, Pool);
        Kernels.MatMul(View(GgmlType.F32, 64, 10, pinned), x, 1, b);
        Assert.Equal(a, b);
    }

    [Fact]
    public void F32ProjectionMatchesLlamaCppQueries()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        var w = f.GetTensor("blk.0.attn_q.weight");
        float[] x = KernelTestData.Hidden("tiny-llama-f32", "attn_norm-0");
        float[] expected = KernelTestData.Hidden("tiny-llama-f32", "Qcur-0");
        int n = x.Length / (int)w.Columns;
        var y = new float[n * w.Rows];
        Kernels.MatMul(w, x, n, y, Pool);
        KernelTestData.Close(expected, y, 2e-5f, 1e-5f);
    }

    [Fact]
    public void BadShapesThrow()
    {
        var pinned = Pinned(new byte[64 * 4 * 2]);
        var v = View(GgmlType.F32, 64, 2, pinned);
        Assert.Throws<ArgumentException>(() => Kernels.MatVec(v, new float[63], new float[2]));
        Assert.Throws<ArgumentException>(() => Kernels.MatVec(v, new float[64], new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Kernels.MatMul(v, new float[64], 0, new float[2]));
        Assert.False(Kernels.Supports(GgmlType.IQ1_S));
        Assert.Throws<NotSupportedException>(() => Kernels.MatVec(View(GgmlType.IQ1_S, 256, 1, Pinned(new byte[50])), new float[256], new float[1]));
    }
}

[Trait("Category", "Kernels")]
public class F16ConversionTests
{
    [Fact]
    public void VectorWideningIsExactForEveryHalf()
    {
        for (int v = 0; v < 65536; v += 16)
        {
            var lanes = System.Runtime.Intrinsics.Vector512.Create((uint)v, (uint)v + 1, (uint)v + 2, (uint)v + 3, (uint)v + 4, (uint)v + 5, (uint)v + 6, (uint)v + 7,
                (uint)v + 8, (uint)v + 9, (uint)v + 10, (uint)v + 11, (uint)v + 12, (uint)v + 13, (uint)v + 14, (uint)v + 15);
            var f512 = F16.ToFloat(lanes);
            var f256 = F16.ToFloat(lanes.GetLower());
            var f128 = F16.ToFloat(lanes.GetLower().GetLower());
            for (int i = 0; i < 16; i++)
            {
                float e = F16.ToFloat((ushort)(v + i));
                Assert.True(Same(e, f512.GetElement(i)), $"0x{v + i:X4}: {f512.GetElement(i)} vs {e}");
                if (i < 8)
                    Assert.True(Same(e, f256.GetElement(i)));
                if (i < 4)
                    Assert.True(Same(e, f128.GetElement(i)));
            }
        }
    }

    [Fact]
    public void VectorRoundingToHalfMatchesTheCastsBitForBit()
    {
        // Every sign/exponent/top-mantissa pattern with low halves at the rounding edges (ties, just
        // below and above), so normals, subnormals, the overflow edge, infinities and NaNs are all hit.
        uint[] lows = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x2FFF, 0x3000, 0x3001, 0x5A5A, 0x8000, 0xE000, 0xFFFF];
        var rng = new Random(12);
        Span<float> lanes = stackalloc float[16];
        for (uint hi = 0; hi < 65536; hi++)
        {
            for (int k = 0; k < lows.Length; k += 16)
            {
                for (int i = 0; i < 16; i++)
                    lanes[i] = BitConverter.UInt32BitsToSingle(hi << 16 | (k + i < lows.Length ? lows[k + i] : (uint)rng.Next(65536)));
                var r = F16.RoundToHalf(System.Runtime.Intrinsics.Vector512.Create((ReadOnlySpan<float>)lanes));
                for (int i = 0; i < 16; i++)
                {
                    uint e = BitConverter.SingleToUInt32Bits((float)(Half)lanes[i]), a = BitConverter.SingleToUInt32Bits(r.GetElement(i));
                    if (e != a)
                        Assert.Fail($"0x{BitConverter.SingleToUInt32Bits(lanes[i]):X8}: 0x{a:X8} vs the cast's 0x{e:X8}");
                }
            }
        }
    }

    private static bool Same(float a, float b) =>
        BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b) || (float.IsNaN(a) && float.IsNaN(b));
}
