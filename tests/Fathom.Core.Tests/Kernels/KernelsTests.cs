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

    /// <summary>
    /// A pinned copy that lives until the test process ends. A TensorView holds a raw pointer the GC does
    /// not see: an array referenced only through one can be collected mid-test and its memory reused
    /// (a flaky mismatch in CI once), so every array handed out here stays referenced.
    /// </summary>
    internal static byte[] Pinned(ReadOnlySpan<byte> bytes)
    {
        var a = GC.AllocateUninitializedArray<byte>(Math.Max(1, bytes.Length), pinned: true);
        bytes.CopyTo(a);
        lock (s_alive)
            s_alive.Add(a);
        return a;
    }

    private static readonly List<byte[]> s_alive = [];

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

    /// <summary>Two or three decode products in one loop give MatVec's bits per weight, also with mixed types and row counts.</summary>
    [Theory]
    [InlineData(GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K)]
    [InlineData(GgmlType.Q6_K, GgmlType.Q4_K, GgmlType.Q6_K)]
    public void FusedMatVecEqualsSeparateMatVecs(GgmlType t0, GgmlType t1, GgmlType t2)
    {
        int cols = 512;
        int[] rows = [67, 16, 35];
        GgmlType[] types = [t0, t1, t2];
        var views = new TensorView[3];
        for (int i = 0; i < 3; i++)
            views[i] = View(types[i], cols, rows[i], Pinned(QuantDotTests.RandomRow(types[i], cols * rows[i], 10 + i)));
        float[] x = KernelTestData.Floats(cols, 7, 10f);
        foreach (int slots in new[] { 2, 3 })
        {
            foreach (var pool in new[] { Pool, null })
            {
                var ys = new float[slots][];
                var ptrs = new IntPtr[slots];
                var handles = new GCHandle[slots];
                for (int i = 0; i < slots; i++)
                {
                    ys[i] = new float[rows[i]];
                    handles[i] = GCHandle.Alloc(ys[i], GCHandleType.Pinned);
                    ptrs[i] = handles[i].AddrOfPinnedObject();
                }
                bool fused = Kernels.TryMatVecFused(x, views.AsSpan(0, slots), ptrs, pool);
                foreach (var h in handles)
                    h.Free();
                // Without AVX2 there is no decode kernel and the caller applies the weights one by one.
                Assert.Equal(Array.TrueForAll(types[..slots], t => QuantGemv.For(t).IsValid), fused);
                for (int i = 0; i < slots && fused; i++)
                {
                    float[] expected = new float[rows[i]];
                    Kernels.MatVec(views[i], x, expected, pool);
                    for (int r = 0; r < rows[i]; r++)
                        Assert.True(Bits(expected[r], ys[i][r]), $"{types[i]} weight {i} row {r}: {ys[i][r]:R} vs {expected[r]:R}");
                }
            }
        }
    }

    private static bool Bits(float a, float b) => BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b);

    private static void AddInto(float* a, float* b, int n)
    {
        for (int i = 0; i < n; i++)
            a[i] += 2 * b[i];
    }

    /// <summary>With an epilogue each tile covers the same rows of both weights and the epilogue sees both finished.</summary>
    [Fact]
    public void FusedEpilogueRunsOnFinishedRowsOfBoth()
    {
        int cols = 256, rows = 83;
        var a = View(GgmlType.Q4_K, cols, rows, Pinned(QuantDotTests.RandomRow(GgmlType.Q4_K, cols * rows, 1)));
        var b = View(GgmlType.Q6_K, cols, rows, Pinned(QuantDotTests.RandomRow(GgmlType.Q6_K, cols * rows, 2)));
        float[] x = KernelTestData.Floats(cols, 3);
        float[] ya = new float[rows], yb = new float[rows], ea = new float[rows], eb = new float[rows];
        Kernels.MatVec(a, x, ea, Pool);
        Kernels.MatVec(b, x, eb, Pool);
        bool fused;
        fixed (float* pa = ya)
        fixed (float* pb = yb)
            fused = Kernels.TryMatVecFused(x, [a, b], [(IntPtr)pa, (IntPtr)pb], Pool, &AddInto);
        Assert.Equal(QuantGemv.For(GgmlType.Q4_K).IsValid, fused);
        for (int r = 0; r < rows && fused; r++)
        {
            Assert.True(Bits(eb[r], yb[r]));
            Assert.True(Bits(ea[r] + 2 * eb[r], ya[r]), $"row {r}");
        }
    }

    [Fact]
    public void FusedMatVecDeclinesWhatItCannotShare()
    {
        var q4 = View(GgmlType.Q4_0, 64, 4, Pinned(QuantDotTests.RandomRow(GgmlType.Q4_0, 64 * 4, 1)));
        var q4k = View(GgmlType.Q4_K, 256, 4, Pinned(QuantDotTests.RandomRow(GgmlType.Q4_K, 256 * 4, 1)));
        var wide = View(GgmlType.Q4_0, 128, 4, Pinned(QuantDotTests.RandomRow(GgmlType.Q4_0, 128 * 4, 1)));
        var f32 = View(GgmlType.F32, 64, 4, Pinned(new byte[64 * 4 * 4]));
        float[] y = new float[4];
        fixed (float* p = y)
        {
            IntPtr[] two = [(IntPtr)p, (IntPtr)p];
            Assert.False(Kernels.TryMatVecFused(new float[64], [q4, f32], two, Pool));
            Assert.False(Kernels.TryMatVecFused(new float[64], [q4, wide], two, Pool));
            Assert.False(Kernels.TryMatVecFused(new float[256], [q4k, q4k, q4k, q4k], [(IntPtr)p, (IntPtr)p, (IntPtr)p, (IntPtr)p], Pool));
            if (QuantGemv.For(GgmlType.Q4_0).IsValid)
                Assert.Throws<ArgumentException>(() => Kernels.TryMatVecFused(new float[63], [q4, q4], two, Pool));
        }
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
    public unsafe void RowAndRegisterWideningAreExactForEveryHalf()
    {
        // Rows mix the all-normal fast groups with groups holding zeros, subnormals, infinities and NaNs.
        var halves = new ushort[65536 + 5];
        for (int i = 0; i < halves.Length; i++)
            halves[i] = (ushort)(i * 40503);
        var row = new float[halves.Length];
        fixed (ushort* h = halves)
        fixed (float* f = row)
            F16.ToFloatRow(h, halves.Length, f);
        for (int i = 0; i < halves.Length; i++)
            Assert.True(Same(F16.ToFloat(halves[i]), row[i]), $"row 0x{halves[i]:X4}: {row[i]}");
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            return;
        for (int v = 0; v < 65536; v += 16)
        {
            var lanes = System.Runtime.Intrinsics.Vector256.Create((short)v, (short)(v + 1), (short)(v + 2), (short)(v + 3), (short)(v + 4), (short)(v + 5),
                (short)(v + 6), (short)(v + 7), (short)(v + 8), (short)(v + 9), (short)(v + 10), (short)(v + 11), (short)(v + 12), (short)(v + 13),
                (short)(v + 14), (short)(v + 15));
            var w = F16.Widen16(lanes);
            for (int i = 0; i < 16; i++)
            {
                float e = F16.ToFloat((ushort)(v + i)), a = w.GetElement(i);
                if (!Same(e, a))
                    Assert.Fail($"0x{v + i:X4}: 0x{BitConverter.SingleToUInt32Bits(a):X8} vs 0x{BitConverter.SingleToUInt32Bits(e):X8}");
            }
        }
    }

    [Fact]
    public void RawWideningWithTheFactorOnTheOtherOperandGivesTheSameFmaForEveryHalf()
    {
        // The decode fold reads f16 keys and values 2^112 too small and puts the 2^112 on the query or the probability:
        // every fused multiply-add must come out bit for bit as with the exact half, subnormals and signed zeros included,
        // and infinities and NaNs must stay what they were.
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            return;
        var rng = new Random(5);
        float[] others = [1f, -0.37f, 3.1e-3f, 32767.9f, -20000f, 1e-30f, 0f, 7.5e-39f];
        for (int v = 0; v < 65536; v += 16)
        {
            var lanes = System.Runtime.Intrinsics.Vector256.Create((short)v, (short)(v + 1), (short)(v + 2), (short)(v + 3), (short)(v + 4), (short)(v + 5),
                (short)(v + 6), (short)(v + 7), (short)(v + 8), (short)(v + 9), (short)(v + 10), (short)(v + 11), (short)(v + 12), (short)(v + 13),
                (short)(v + 14), (short)(v + 15));
            var raw = F16.Widen16Raw(lanes);
            var finite = F16.Widen16FiniteRaw(lanes);
            foreach (float o in others.Append((float)(rng.NextDouble() * 2 - 1)))
            {
                var acc = System.Runtime.Intrinsics.Vector512.Create((float)(rng.NextDouble() - 0.5) * 1e-3f);
                var exact = System.Runtime.Intrinsics.Vector512.FusedMultiplyAdd(System.Runtime.Intrinsics.Vector512.Create(o), F16.Widen16(lanes), acc);
                var carried = System.Runtime.Intrinsics.Vector512.Create(o * F16.RawUnit);
                var viaRaw = System.Runtime.Intrinsics.Vector512.FusedMultiplyAdd(carried, raw, acc);
                var viaFinite = System.Runtime.Intrinsics.Vector512.FusedMultiplyAdd(carried, finite, acc);
                for (int i = 0; i < 16; i++)
                {
                    ushort h = (ushort)(v + i);
                    float e = exact.GetElement(i);
                    if (!Same(e, viaRaw.GetElement(i)))
                        Assert.Fail($"0x{h:X4} × {o}: raw 0x{BitConverter.SingleToUInt32Bits(viaRaw.GetElement(i)):X8} vs 0x{BitConverter.SingleToUInt32Bits(e):X8}");
                    if ((h & 0x7C00) != 0x7C00 && !Same(e, viaFinite.GetElement(i)))
                        Assert.Fail($"0x{h:X4} × {o}: finite raw 0x{BitConverter.SingleToUInt32Bits(viaFinite.GetElement(i)):X8} vs 0x{BitConverter.SingleToUInt32Bits(e):X8}");
                }
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
