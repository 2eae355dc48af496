using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tensors;
using Fathom.Tests.Models;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public unsafe class GemmTests
{
    public static TheoryData<GgmlType> Types => new() { GgmlType.Q4_0, GgmlType.Q4_K };

    // Batches that fill 4-row tiles, leave tails, span several 16-row panels and a half panel.
    private static readonly (int Rows, int N)[] s_shapes = [(8, 2), (16, 3), (24, 4), (40, 5), (64, 7), (8, 16), (32, 33)];

    [Theory, MemberData(nameof(Types))]
    public void BatchMatchesBlockwiseReferenceBitForBit(GgmlType type)
    {
        int bs = GgmlTypeInfo.BlockSize(type);
        foreach (int blocks in new[] { 1, 2, 3, 8 })
        {
            foreach (var (rows, n) in s_shapes)
            {
                int cols = bs * blocks;
                byte[] w = KernelsTests.Pinned(QuantDotTests.RandomRow(type, cols * rows, rows + blocks));
                float[] x = KernelTestData.Floats(cols * n, n + blocks);
                var view = KernelsTests.View(type, cols, rows, w);
                float[] y = new float[rows * n];
                Kernels.MatMul(view, x, n, y, KernelsTestsPool.Pool);
                long rowBytes = GgmlTypeInfo.RowSize(type, cols);
                for (int j = 0; j < n; j++)
                {
                    byte[] a = QuantDotTests.Activations(type, x.AsSpan(j * cols, cols).ToArray());
                    fixed (byte* pw = w)
                    fixed (byte* pa = a)
                    {
                        for (int r = 0; r < rows; r++)
                        {
                            float blockwise = type == GgmlType.Q4_0 ? GemmReference.Q4_0(pw + r * rowBytes, pa, cols) : GemmReference.Q4_K(pw + r * rowBytes, pa, cols, gemm4: j < n - n % 4);
                            float vecDot = VecDot.Reference(type).Dot(pw + r * rowBytes, pa, cols);
                            float got = y[j * rows + r];
                            if (Gemm.IsSupported)
                                Assert.True(BitConverter.SingleToInt32Bits(blockwise) == BitConverter.SingleToInt32Bits(got), $"{type} {cols}x{rows} n={n} [{j},{r}]: {got:R} vs {blockwise:R}");
                            else
                                Assert.True(Math.Abs(got - vecDot) <= 1e-4f * (1 + Math.Abs(vecDot)), $"{type} {cols}x{rows} n={n} [{j},{r}]: {got:R} vs {vecDot:R}");
                            Assert.True(Math.Abs(blockwise - vecDot) <= 1e-4f * (1 + Math.Abs(vecDot)), $"reference orders disagree: {blockwise:R} vs {vecDot:R}");
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void OnlyTheTypesAndShapesLlamaCppRepacksTakeTheInterleavedOrder()
    {
        byte[] w = KernelsTests.Pinned(new byte[18 * 16]);
        Assert.True(Gemm.InterleavedOrder(KernelsTests.View(GgmlType.Q4_0, 32, 16, w)));
        Assert.False(Gemm.InterleavedOrder(KernelsTests.View(GgmlType.Q4_0, 32, 12, w)));
        Assert.False(Gemm.InterleavedOrder(KernelsTests.View(GgmlType.Q8_0, 32, 8, w)));
        var embd = new TensorView("token_embd.weight", GgmlType.Q4_0, [32, 16], KernelsTests.View(GgmlType.Q4_0, 32, 16, w).Data, w.Length);
        Assert.False(Gemm.InterleavedOrder(embd));
        Assert.False(Gemm.Applies(KernelsTests.View(GgmlType.Q4_0, 32, 16, w), 1));
    }

    [Fact]
    public void Q4_0PromptRowsAreLlamaCppsBitForBit()
    {
        var golden = Golden.Load("tiny-llama-q4_0");
        golden.SkipUnlessKernelsExist();
        Assert.SkipUnless(Gemm.IsSupported, "the interleaved order runs on AVX2 (with FMA) and AVX-512BW machines");
        using var model = Model.Load(golden.ModelPath);
        float[] mine = golden.RunTeacherForced(model, threads: 2);
        double max = 0;
        for (int i = 0; i < golden.PromptTokens.Length * golden.Vocab; i++)
            max = Math.Max(max, Math.Abs(mine[i] - golden.Logits[i]));
        // The prompt batch is one 24-row GEMM in llama.cpp too: same integer sums, same FMA order, same bits.
        Assert.True(max <= 1e-6, $"prompt rows max |d| {max:E2}");
    }
}
