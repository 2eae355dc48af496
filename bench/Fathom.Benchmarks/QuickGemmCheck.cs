using System.Diagnostics;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tensors;

namespace Fathom.Benchmarks;

/// <summary>
/// Prefill mat-mul A/B in one process, timed in CPU seconds of one thread (robust on a loaded machine):
/// the batched path against the row-by-row one, 2048×2048 weights × 512 rows:
/// dotnet run -c Release --project bench/Fathom.Benchmarks -- gemm [batch]
/// </summary>
internal static unsafe class QuickGemmCheck
{
    public static void Run(int n)
    {
        Console.WriteLine($"simd {Simd.Describe()}, gemm {Gemm.IsSupported}, batch {n}");
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.F16 })
        {
            var w = KernelBenchData.Weights(type, 2048, 2048, out var mem);
            var x = KernelBenchData.Activations(2048 * n);
            var y = new float[2048 * n];
            var linear = new Linear(w);
            double flop = 2.0 * 2048 * 2048 * n;
            double now = Cpu(() => linear.Apply(x, n, y, null));
            double before = type == GgmlType.F16 ? double.NaN : Cpu(() => Kernels.MatMul(w, x, n, y, null, VecDot.For(type), batched: false));
            Console.WriteLine($"{type,-6} batched {flop / now / 1e9,6:F1} GFLOP/s per CPU-second ({now * 1e3:F0} ms)   row-by-row {flop / before / 1e9,6:F1} GFLOP/s");
            System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)mem);
        }
    }

    private static double Cpu(Action a)
    {
        a();
        double best = double.MaxValue;
        for (int rep = 0; rep < 3; rep++)
        {
            var t0 = Process.GetCurrentProcess().TotalProcessorTime;
            a();
            best = Math.Min(best, (Process.GetCurrentProcess().TotalProcessorTime - t0).TotalSeconds);
        }
        return best;
    }
}
