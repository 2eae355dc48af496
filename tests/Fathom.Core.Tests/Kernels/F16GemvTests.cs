using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tensors;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class F16GemvTests
{
    /// <summary>Random halves with zeros, subnormals and both signs mixed in (each takes the slow conversion).</summary>
    private static byte[] Halves(int count, int seed, bool special)
    {
        var rng = new Random(seed);
        var h = new ushort[count];
        for (int i = 0; i < count; i++)
        {
            h[i] = BitConverter.HalfToUInt16Bits((Half)((rng.NextDouble() * 2 - 1) * 0.5));
            if (special && rng.Next(40) == 0)
                h[i] = (ushort)(rng.Next(2) << 15 | rng.Next(3) switch { 0 => 0, 1 => rng.Next(1, 0x400), _ => 0x7BFF });
        }
        var bytes = new byte[count * 2];
        Buffer.BlockCopy(h, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    /// <summary>Decode (one row of x) gives the float bits of the general tinyBLAS-order path, which the batched call still takes.</summary>
    [Theory]
    [InlineData(16, 5, false)]
    [InlineData(32, 4, true)]
    [InlineData(48, 9, true)]
    [InlineData(256, 17, false)]
    [InlineData(2064, 7, true)]
    public void DecodeEqualsBatchedRowBitForBit(int cols, int rows, bool special)
    {
        Assert.SkipUnless(F16Gemv.IsSupported, "neither AVX-512 nor AVX2 on this machine");
        byte[] w = KernelsTests.Pinned(Halves(cols * rows, cols + rows, special));
        var linear = new Linear(KernelsTests.View(GgmlType.F16, cols, rows, w));
        float[] x = KernelTestData.Floats(cols, rows);
        float[] x2 = [.. x, .. x];
        float[] one = new float[rows], two = new float[2 * rows], serial = new float[rows];
        linear.Apply(x, 1, one, KernelsTestsPool.Pool);
        linear.Apply(x, 1, serial, null);
        linear.Apply(x2, 2, two, KernelsTestsPool.Pool);
        for (int r = 0; r < rows; r++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(one[r]) == BitConverter.SingleToInt32Bits(two[r]), $"cols={cols} row {r}: decode {one[r]:R} vs batched {two[r]:R}");
            Assert.Equal(one[r], serial[r]);
        }
    }

    [Fact]
    public void InfinityAndNaNPropagate()
    {
        Assert.SkipUnless(F16Gemv.IsSupported, "neither AVX-512 nor AVX2 on this machine");
        int cols = 64, rows = 3;
        var h = new ushort[cols * rows];
        for (int i = 0; i < h.Length; i++)
            h[i] = BitConverter.HalfToUInt16Bits((Half)0.25);
        h[5] = 0x7C00;            // +Inf in row 0
        h[cols + 40] = 0x7E00;    // NaN in row 1
        var bytes = new byte[h.Length * 2];
        Buffer.BlockCopy(h, 0, bytes, 0, bytes.Length);
        var linear = new Linear(KernelsTests.View(GgmlType.F16, cols, rows, KernelsTests.Pinned(bytes)));
        float[] x = Enumerable.Repeat(1f, cols).ToArray(), y = new float[rows];
        linear.Apply(x, 1, y, null);
        Assert.Equal(float.PositiveInfinity, y[0]);
        Assert.True(float.IsNaN(y[1]));
        Assert.Equal(0.25f * cols, y[2]);
    }
}
