using System.Diagnostics;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// Decode mat-vec A/B in one process: the decode kernels (QuantGemv) against the per-row dots, on a
/// 2048-column matrix of about 384 MB (larger than L3, so DRAM-bound like a real model) and an
/// L3-resident 2048×8192 one, interleaved with the streaming-read ceiling:
/// dotnet run -c Release --project bench/Fathom.Benchmarks -- decode [threads] [types…]
/// </summary>
internal static unsafe class DecodeKernelCheck
{
    public static void Run(int threads, string[] typeNames)
    {
        using var pool = new WorkerPool(threads);
        Console.WriteLine($"simd {Simd.Describe()}, threads {threads}");
        var bw = new BandwidthBenchmarks();
        bw.Setup();
        var types = typeNames.Length > 0 ? typeNames.Select(Enum.Parse<GgmlType>).ToArray() : [GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K];
        foreach (var type in types)
        {
            const int cols = 2048;
            // FATHOM_DECODE_ROWS=1024 (say): an L2-resident matrix, the kernel's per-core compute rate.
            int[] shapes = Environment.GetEnvironmentVariable("FATHOM_DECODE_ROWS") is { Length: > 0 } list ? [.. list.Split(',').Select(int.Parse)]
                : Environment.GetEnvironmentVariable("FATHOM_DECODE_SMALL") == "1" ? [8192] : [(int)(384_000_000 / GgmlTypeInfo.RowSize(type, cols)), 8192];
            foreach (int rows in shapes)
            {
                var w = KernelBenchData.Weights(type, cols, rows, out var mem);
                var x = KernelBenchData.Activations(cols);
                var y = new float[rows];
                var fast = VecDot.For(type);
                // "new" is the forward pass's path (Linear: the load-time packed copy for Q4_0/Q4_K, tinyBLAS order for F16);
                // "old" is the decode kernel on the file's layout (QuantGemv), or the per-row dots where Linear adds nothing.
                var linear = type is GgmlType.F16 or GgmlType.Q4_0 or GgmlType.Q4_K ? new Fathom.Models.Linear(w) : null;
                var old = linear is not null && type != GgmlType.F16 ? fast : VecDot.PerRow(type);
                int reps = rows > 8192 ? 5 : rows > 2048 ? 30 : 300;
                double bestNew = double.MaxValue, bestOld = double.MaxValue, bestBw = double.MaxValue, cpuNew = 0, cpuOld = 0;
                var proc = Process.GetCurrentProcess();
                for (int rep = 0; rep < reps; rep++)
                {
                    proc.Refresh();
                    var c0 = proc.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    if (linear is not null)
                        linear.Apply(x, 1, y, pool);
                    else
                        Kernels.MatMul(w, x, 1, y, pool, fast);
                    bestNew = Math.Min(bestNew, sw.Elapsed.TotalSeconds);
                    proc.Refresh();
                    var c1 = proc.TotalProcessorTime;
                    sw.Restart();
                    Kernels.MatMul(w, x, 1, y, pool, old);
                    bestOld = Math.Min(bestOld, sw.Elapsed.TotalSeconds);
                    proc.Refresh();
                    var c2 = proc.TotalProcessorTime;
                    cpuNew += (c1 - c0).TotalSeconds;
                    cpuOld += (c2 - c1).TotalSeconds;
                    if (rep % Math.Max(5, reps / 6) == 0)
                    {
                        sw.Restart();
                        bw.StreamRead2Threads();
                        bestBw = Math.Min(bestBw, sw.Elapsed.TotalSeconds);
                    }
                }
                double gb = w.ByteLength / 1e9, stream = (512 << 20) / 1e9 / bestBw;
                Console.WriteLine($"{type,-5} {cols}x{rows,-7} {gb * 1e3,6:F0} MB  new {gb / bestNew,6:F2} GB/s ({gb * reps / cpuNew,6:F2}/CPU-s)  old {gb / bestOld,6:F2} GB/s ({gb * reps / cpuOld,6:F2}/CPU-s)  stream {stream,5:F2} GB/s  new/stream {gb / bestNew / stream,5:P0}");
                System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)mem);
            }
        }
        bw.Cleanup();
    }
}
