using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tensors;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class FloatGemmTests
{
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    public void BatchEqualsOneRowAtATimeBitForBit(GgmlType type)
    {
        foreach (var (cols, rows, n) in new[] { (16, 1, 2), (48, 3, 3), (512, 4, 4), (1040, 9, 5), (64, 8, 11), (1536, 5, 2) })
        {
            float[] wf = KernelTestData.Floats(cols * rows, cols + rows), x = KernelTestData.Floats(cols * n, n);
            byte[] bytes;
            if (type == GgmlType.F16)
            {
                var h = new ushort[wf.Length];
                FloatDot.ToF16(wf, h);
                bytes = MemoryMarshal.AsBytes(h.AsSpan()).ToArray();
            }
            else
            {
                bytes = MemoryMarshal.AsBytes(wf.AsSpan()).ToArray();
            }
            var linear = new Linear(KernelsTests.View(type, cols, rows, KernelsTests.Pinned(bytes)));
            var batched = new float[rows * n];
            linear.Apply(x, n, batched, KernelsTestsPool.Pool);
            var single = new float[rows];
            for (int j = 0; j < n; j++)
            {
                linear.Apply(x.AsSpan(j * cols, cols), 1, single, null);
                for (int r = 0; r < rows; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(single[r]) == BitConverter.SingleToInt32Bits(batched[j * rows + r]), $"{type} {cols}x{rows} n={n} [{j},{r}]: {batched[j * rows + r]:R} vs {single[r]:R}");
            }
        }
    }
}
