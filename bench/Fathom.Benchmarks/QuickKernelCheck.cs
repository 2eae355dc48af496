using System.Diagnostics;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// A fast Stopwatch look at mat-vec throughput beside streaming-read bandwidth, measured
/// interleaved in one process so machine noise hits both alike:
/// dotnet run -c Release --project bench/Fathom.Benchmarks -- quick [threads]
/// </summary>
internal static unsafe class QuickKernelCheck
{
    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        Console.WriteLine($"simd {Simd.Describe()}, threads {threads}");
        var bw = new BandwidthBenchmarks();
        bw.Setup();
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16 })
        {
            var w = KernelBenchData.Weights(type, 2048, 8192, out var mem);
            var x = KernelBenchData.Activations(2048);
            var y = new float[8192];
            // Q4_0/Q4_K decode from the load-time packed copy, as the forward pass does.
            var linear = type is GgmlType.Q4_0 or GgmlType.Q4_K ? new Fathom.Models.Linear(w) : null;
            double best = double.MaxValue, bestSingle = double.MaxValue, bestBw = double.MaxValue;
            for (int rep = 0; rep < 15; rep++)
            {
                var sw = Stopwatch.StartNew();
                MatVec(linear, w, x, y, pool);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
                sw.Restart();
                MatVec(linear, w, x, y, null);
                bestSingle = Math.Min(bestSingle, sw.Elapsed.TotalSeconds);
                sw.Restart();
                bw.StreamRead2Threads();
                bestBw = Math.Min(bestBw, sw.Elapsed.TotalSeconds);
            }
            double gb = w.ByteLength / 1e9;
            // CPU seconds of one thread doing the work: what the kernel costs, whatever the machine's load.
            Thread.Sleep(50);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (int rep = 0; rep < 20; rep++)
                MatVec(linear, w, x, y, null);
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / 20;
            Console.WriteLine($"{type,-6} {gb * 1e3,7:F1} MB  pool {gb / best,6:F2} GB/s  1-thread {gb / bestSingle,6:F2} GB/s  stream {(512 << 20) / 1e9 / bestBw,6:F2} GB/s  ratio {gb / best / ((512 << 20) / 1e9 / bestBw),5:P0}  per CPU-second {gb / cpu,6:F2} GB/s");
            linear?.Packed?.Dispose();
            System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)mem);
        }
        bw.Cleanup();
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q8_0 })
        {
            const int n = 512;
            var w = KernelBenchData.Weights(type, 2048, 2048, out var mem);
            var x = KernelBenchData.Activations(2048 * n);
            var y = new float[2048 * n];
            double best = double.MaxValue;
            for (int rep = 0; rep < 3; rep++)
            {
                var sw = Stopwatch.StartNew();
                Kernels.MatMul(w, x, n, y, pool);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            Kernels.MatMul(w, x, n, y, null);
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            Console.WriteLine($"{type,-6} matmul 2048x2048 x {n}: {2.0 * 2048 * 2048 * n / best / 1e9,6:F1} GFLOP/s ({best * 1e3:F0} ms); per CPU-second {2.0 * 2048 * 2048 * n / cpu / 1e9,6:F1} GFLOP/s");
            System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)mem);
        }
    }

    private static void MatVec(Fathom.Models.Linear? linear, TensorView w, float[] x, float[] y, WorkerPool? pool)
    {
        if (linear is not null)
            linear.Apply(x, 1, y, pool);
        else
            Kernels.MatVec(w, x, y, pool);
    }
}
