using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tensors;
using Fathom.Tests.Models;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public unsafe class PackedGemvTests
{
    public static TheoryData<GgmlType> Types => new() { GgmlType.Q4_0, GgmlType.Q4_K };

    // Whole 16-row tiles, a lone 8-row group at the end, several tiles.
    private static readonly int[] s_rows = [8, 16, 24, 40, 64];

    private static IEnumerable<(int Cols, int Rows)> Shapes(GgmlType type)
    {
        int bs = GgmlTypeInfo.BlockSize(type);
        foreach (int blocks in type == GgmlType.Q4_0 ? new[] { 1, 2, 3, 4, 5, 6, 7, 8 } : new[] { 1, 2, 3, 8 })
            foreach (int rows in s_rows)
                yield return (bs * blocks, rows);
    }

    private static byte[] Weights(GgmlType type, int cols, int rows, int seed, bool tinyScales = false)
    {
        byte[] w = QuantDotTests.RandomRow(type, cols * rows, seed);
        if (tinyScales)
        {
            // f16 subnormals, zero and negative zero as scales: the vector f16 → f32 conversion must keep them exact.
            ushort[] odd = [0x0001, 0x03FF, 0x8001, 0x0000, 0x8000, 0x0400, 0xFBFF];
            int ts = GgmlTypeInfo.TypeSize(type);
            for (int b = 0; b * ts < w.Length; b++)
                BitConverter.TryWriteBytes(w.AsSpan(b * ts, 2), odd[b % odd.Length]);
        }
        return KernelsTests.Pinned(w);
    }

    private static float[] Reference(GgmlType type, byte[] w, byte[] a, int cols, int rows)
    {
        long rowBytes = GgmlTypeInfo.RowSize(type, cols);
        var y = new float[rows];
        fixed (byte* pw = w)
        fixed (byte* pa = a)
        {
            for (int r = 0; r < rows; r++)
                y[r] = type == GgmlType.Q4_0 ? GemmReference.Q4_0(pw + r * rowBytes, pa, cols) : GemmReference.Q4_K(pw + r * rowBytes, pa, cols, gemm4: false);
        }
        return y;
    }

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        for (int r = 0; r < expected.Length; r++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[r]) == BitConverter.SingleToInt32Bits(actual[r]), $"{what} row {r}: {actual[r]:R} vs {expected[r]:R}");
    }

    [Theory, MemberData(nameof(Types))]
    public void PackingKeepsEveryRowsBytes(GgmlType type)
    {
        foreach (var (cols, rows) in Shapes(type))
        {
            byte[] w = Weights(type, cols, rows, cols + rows);
            using var packed = PackedWeight.Create(KernelsTests.View(type, cols, rows, w));
            Assert.Equal(w.Length, packed.ByteLength);
            int rowBytes = (int)GgmlTypeInfo.RowSize(type, cols);
            var row = new byte[rowBytes];
            for (int r = 0; r < rows; r++)
            {
                fixed (byte* p = row)
                    packed.UnpackRow(r, p);
                Assert.True(row.AsSpan().SequenceEqual(w.AsSpan(r * rowBytes, rowBytes)), $"{type} {cols}x{rows} row {r}");
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void DecodeMatchesTheBlockwiseReferenceBitForBit(GgmlType type)
    {
        foreach (bool tiny in new[] { false, true })
        {
            foreach (var (cols, rows) in Shapes(type))
            {
                byte[] w = Weights(type, cols, rows, 7 * cols + rows, tiny);
                float[] x = KernelTestData.Floats(cols, cols + 3 * rows);
                var view = KernelsTests.View(type, cols, rows, w);
                using var packed = PackedWeight.Create(view);
                float[] expected = Reference(type, w, QuantDotTests.Activations(type, x), cols, rows);
                foreach (var pool in new[] { null, KernelsTestsPool.Pool })
                {
                    var y = new float[rows];
                    Kernels.MatMul(view, x, 1, y, pool, packed);
                    AssertBits(expected, y, $"{type} {cols}x{rows} tiny={tiny} pool={pool is not null}");
                }
                // The scalar statement over the packed bytes, whatever this machine runs.
                var yr = new float[rows];
                byte[] a = KernelsTests.Pinned(QuantDotTests.Activations(type, x));
                fixed (byte* pa = a)
                fixed (float* py = yr)
                    PackedGemv.Reference(packed, pa, py, 0, rows);
                AssertBits(expected, yr, $"{type} {cols}x{rows} reference");
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void BatchesFromThePackedCopyMatchBatchesFromTheFile(GgmlType type)
    {
        foreach (var (cols, rows) in Shapes(type))
        {
            foreach (int n in new[] { 2, 5 })
            {
                byte[] w = Weights(type, cols, rows, cols * 3 + rows + n);
                float[] x = KernelTestData.Floats(cols * n, cols + n);
                var view = KernelsTests.View(type, cols, rows, w);
                using var packed = PackedWeight.Create(view);
                var fromFile = new float[rows * n];
                var fromPacked = new float[rows * n];
                Kernels.MatMul(view, x, n, fromFile, KernelsTestsPool.Pool);
                Kernels.MatMul(view, x, n, fromPacked, KernelsTestsPool.Pool, packed);
                AssertBits(fromFile, fromPacked, $"{type} {cols}x{rows} n={n}");
                if (type == GgmlType.Q4_0 && Gemm.IsSupported)
                {
                    // One summation order: a row decoded alone is the same bits as that row inside a batch.
                    var one = new float[rows];
                    Kernels.MatMul(view, x.AsSpan(cols, cols), 1, one, null, packed);
                    AssertBits(fromPacked.AsSpan(rows, rows).ToArray(), one, $"{type} {cols}x{rows} decode vs batch");
                }
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void FusedDecodeOverPackedWeightsMatchesEachAlone(GgmlType type)
    {
        // Two packed weights of the type beside one that is not packed and reads the same activation type (Q8_0 or
        // Q6_K, as in Q4_K_M files): the fused loop must give each the bits of its own decode, whatever kernel each reads.
        var other = type == GgmlType.Q4_0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
        int cols = type == GgmlType.Q4_0 ? 512 : 1024;
        int[] rows = [40, 24, 35];
        byte[][] w = [Weights(type, cols, rows[0], 11), Weights(type, cols, rows[1], 12), KernelsTests.Pinned(QuantDotTests.RandomRow(other, cols * rows[2], 13))];
        TensorView[] views = [KernelsTests.View(type, cols, rows[0], w[0]), KernelsTests.View(type, cols, rows[1], w[1]), KernelsTests.View(other, cols, rows[2], w[2])];
        using var p0 = PackedWeight.Create(views[0]);
        using var p1 = PackedWeight.Create(views[1]);
        PackedWeight?[] packed = [p0, p1, null];
        float[] x = KernelTestData.Floats(cols, 5);
        foreach (var pool in new[] { null, KernelsTestsPool.Pool })
        {
            var ys = new float[3][];
            var handles = new GCHandle[3];
            var ptrs = new IntPtr[3];
            for (int i = 0; i < 3; i++)
            {
                ys[i] = new float[rows[i]];
                handles[i] = GCHandle.Alloc(ys[i], GCHandleType.Pinned);
                ptrs[i] = handles[i].AddrOfPinnedObject();
            }
            bool fused = Kernels.TryMatVecFused(x, views, ptrs, pool, null, packed);
            foreach (var h in handles)
                h.Free();
            Assert.Equal(Simd.UseAvx2Kernels && QuantGemv.For(other).IsValid, fused);
            for (int i = 0; i < 3 && fused; i++)
            {
                var expected = new float[rows[i]];
                Kernels.MatMul(views[i], x, 1, expected, pool, packed[i]);
                AssertBits(expected, ys[i], $"{type} weight {i} pool={pool is not null}");
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void DecodeAllocatesNothingOnceWarm(GgmlType type)
    {
        int cols = type == GgmlType.Q4_0 ? 512 : 1024, rows = 72;
        byte[] w = Weights(type, cols, rows, 11);
        float[] x = KernelTestData.Floats(cols, 12);
        var view = KernelsTests.View(type, cols, rows, w);
        using var packed = PackedWeight.Create(view);
        var y = new float[rows];
        Kernels.MatMul(view, x, 1, y, null, packed);
        Assert.Equal(0, Allocations.Of(() =>
        {
            for (int i = 0; i < 10; i++)
                Kernels.MatMul(view, x, 1, y, null, packed);
        }));
    }

    [Fact]
    public void OnlyWholeGroupsOfQ4TypesPack()
    {
        byte[] w = KernelsTests.Pinned(new byte[18 * 12]);
        Assert.Throws<ArgumentException>(() => PackedWeight.Create(KernelsTests.View(GgmlType.Q4_0, 32, 12, w)));
        Assert.Throws<ArgumentException>(() => PackedWeight.Create(KernelsTests.View(GgmlType.Q8_0, 32, 6, w)));
        Assert.Null(PackedWeight.TryCreate(KernelsTests.View(GgmlType.Q4_0, 32, 12, w)));
    }

    [Theory]
    [InlineData("tiny-llama-q4_0")]
    [InlineData("tiny-llama-q4_k_m")]
    public void DecodeStepsAreLlamaCppsBitForBit(string name)
    {
        var golden = Golden.Load(name);
        golden.SkipUnlessKernelsExist();
        Assert.SkipUnless(Gemm.IsSupported, "the packed copy is made where the interleaved kernels run (AVX2 with FMA, or AVX-512BW)");
        using var model = Model.Load(golden.ModelPath);
        float[] mine = golden.RunTeacherForced(model, threads: 2);
        int start = golden.PromptTokens.Length * golden.Vocab;
        double max = 0;
        for (int i = start; i < mine.Length; i++)
            max = Math.Max(max, Math.Abs(mine[i] - golden.Logits[i]));
        // The one-token steps are llama.cpp's repacked GEMV in llama.cpp too: same integer sums, same FMA order.
        Assert.True(max <= 1e-6, $"decode rows max |d| {max:E2}");
    }
}
