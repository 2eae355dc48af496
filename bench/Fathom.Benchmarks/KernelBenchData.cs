using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Benchmarks;

/// <summary>Random weight matrices in pinned native memory, wrapped as TensorViews.</summary>
internal static unsafe class KernelBenchData
{
    public static TensorView Weights(GgmlType type, int cols, int rows, out IntPtr memory)
    {
        long bytes = GgmlTypeInfo.RowSize(type, cols) * rows;
        memory = (IntPtr)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var span = new Span<byte>((void*)memory, checked((int)bytes));
        new Random(42).NextBytes(span);
        if (type == GgmlType.F32)
        {
            var f = MemoryMarshal.Cast<byte, float>(span);
            var rng = new Random(1);
            for (int i = 0; i < f.Length; i++)
                f[i] = (float)rng.NextDouble() - 0.5f;
        }
        else if (type is GgmlType.F16 or GgmlType.BF16)
        {
            var h = MemoryMarshal.Cast<byte, ushort>(span);
            for (int i = 0; i < h.Length; i++)
                h[i] = (ushort)(h[i] & 0x3BFF); // finite, |x| < 1
        }
        else
        {
            // Every f16 scale field gets a small normal value (random bits could be NaN/Inf or subnormal).
            int bs = GgmlTypeInfo.BlockSize(type), ts = GgmlTypeInfo.TypeSize(type);
            foreach (int off in ScaleOffsets(type))
                for (long b = 0; b < bytes / ts; b++)
                    *(ushort*)((byte*)memory + b * ts + off) = 0x2000;
            _ = bs;
        }
        return new TensorView("w", type, [cols, rows], (byte*)memory, bytes);
    }

    private static int[] ScaleOffsets(GgmlType type) => type switch
    {
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 or GgmlType.IQ4_NL or GgmlType.IQ4_XS => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        _ => [],
    };

    public static float[] Activations(int n, int seed = 3)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)rng.NextDouble() * 2 - 1;
        return x;
    }
}
