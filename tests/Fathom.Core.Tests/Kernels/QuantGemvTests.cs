using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class QuantGemvTests
{
    public static TheoryData<GgmlType> Types => new() { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K };

    /// <summary>The decode kernel gives the per-row dot's float bits for every row (same lanes, same float order), at many sizes.</summary>
    [Theory, MemberData(nameof(Types))]
    public void DecodeRowsEqualPerRowDotsBitForBit(GgmlType type)
    {
        int bs = GgmlTypeInfo.BlockSize(type);
        foreach (int nb in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 64 / (bs / 32) + 1 })
        {
            foreach (int rows in new[] { 1, 3, 4, 5, 16, 17, 35 })
            {
                int cols = nb * bs, seed = nb * 100 + rows;
                byte[] w = KernelsTests.Pinned(QuantDotTests.RandomRow(type, cols * rows, seed));
                float[] x = KernelTestData.Floats(cols, seed, rows % 2 == 0 ? 100f : 1f);
                var view = KernelsTests.View(type, cols, rows, w);
                float[] fast = new float[rows], perRow = new float[rows], serial = new float[rows];
                Kernels.MatVec(view, x, fast, KernelsTestsPool.Pool);
                Kernels.MatVec(view, x, serial);
                Kernels.MatMul(view, x, 1, perRow, null, VecDot.PerRow(type));
                for (int r = 0; r < rows; r++)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(perRow[r]) == BitConverter.SingleToInt32Bits(fast[r]),
                        $"{type} cols={cols} rows={rows} row {r}: decode {fast[r]:R} vs per-row {perRow[r]:R}");
                    Assert.Equal(fast[r], serial[r]);
                }
            }
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void DecodeMatchesScalarReference(GgmlType type)
    {
        int cols = GgmlTypeInfo.BlockSize(type) * 5, rows = 13;
        byte[] w = KernelsTests.Pinned(QuantDotTests.RandomRow(type, cols * rows, 3));
        float[] x = KernelTestData.Floats(cols, 4);
        var view = KernelsTests.View(type, cols, rows, w);
        float[] fast = new float[rows], reference = new float[rows];
        Kernels.MatVec(view, x, fast, KernelsTestsPool.Pool);
        Kernels.MatMul(view, x, 1, reference, null, VecDot.Reference(type));
        KernelTestData.Close(reference, fast, 1e-4f, 1e-5f);
    }
}
