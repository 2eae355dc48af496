using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class QuantGemmTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q6_K)]
    public void BatchEqualsOneRowAtATimeBitForBit(GgmlType type)
    {
        // Column counts inside one slice and across slices (32 Q8_0 / 4 Q6_K blocks each); rows filling and leaving 8-row panels.
        int bs = GgmlTypeInfo.BlockSize(type);
        foreach (var (blocks, rows, n) in new[] { (1, 2, 2), (3, 9, 3), (8, 16, 4), (33, 7, 5), (70, 17, 7), (2, 1, 11) })
        {
            if (bs == 256 && blocks > 9)
                continue;
            int cols = bs * blocks;
            byte[] w = KernelsTests.Pinned(QuantDotTests.RandomRow(type, cols * rows, rows + blocks));
            float[] x = KernelTestData.Floats(cols * n, n + blocks);
            var view = KernelsTests.View(type, cols, rows, w);
            float[] batched = new float[rows * n], single = new float[rows];
            Kernels.MatMul(view, x, n, batched, KernelsTestsPool.Pool);
            for (int j = 0; j < n; j++)
            {
                Kernels.MatVec(view, x.AsSpan(j * cols, cols), single);
                for (int r = 0; r < rows; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(single[r]) == BitConverter.SingleToInt32Bits(batched[j * rows + r]), $"{type} {cols}x{rows} n={n} [{j},{r}]: {batched[j * rows + r]:R} vs {single[r]:R}");
            }
        }
    }

    [Fact]
    public void BatchedPathsAllocateNothingOnceWarm()
    {
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.F16 })
        {
            int cols = 512, rows = 24, n = 9;
            byte[] bytes = type == GgmlType.F16 ? new byte[cols * rows * 2] : QuantDotTests.RandomRow(type, cols * rows, 3);
            var linear = new Fathom.Models.Linear(KernelsTests.View(type, cols, rows, KernelsTests.Pinned(bytes)));
            float[] x = KernelTestData.Floats(cols * n, 4), y = new float[rows * n];
            linear.Apply(x, n, y, null);
            Assert.Equal(0, Allocations.Of(() => linear.Apply(x, n, y, null)));
        }
    }
}
