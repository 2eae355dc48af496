using System.Diagnostics;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// Mat-vec bandwidth the way decode sees it: many distinct matrices of one shape (about 400 MB in all, far past
/// L3) applied back to back through <see cref="Linear"/> (packed where the forward pass packs), so each one comes
/// from DRAM and the pool's workers stay warm between calls, as in a forward pass; the streaming-read ceiling is
/// measured between sweeps in the same process:
/// dotnet run -c Release --project bench/Fathom.Benchmarks -- sweep [threads] [types…]
/// </summary>
internal static class ModelSweepCheck
{
    private const long SweepBytes = 400_000_000;

    public static void Run(int threads, string[] typeNames)
    {
        using var pool = new WorkerPool(threads);
        Console.WriteLine($"simd {Simd.Describe()}, threads {threads}");
        var bw = new BandwidthBenchmarks();
        bw.Setup();
        var types = typeNames.Length > 0 ? typeNames.Select(Enum.Parse<GgmlType>).ToArray() : [GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K];
        (int Cols, int Rows)[] shapes = [(2048, 2048), (2048, 8192), (8192, 2048)];
        foreach (var type in types)
        {
            foreach (var (cols, rows) in shapes)
            {
                long bytes = GgmlTypeInfo.RowSize(type, cols) * rows;
                int count = (int)Math.Max(2, SweepBytes / bytes);
                var memory = new IntPtr[count];
                var linears = new Linear[count];
                for (int i = 0; i < count; i++)
                    linears[i] = new Linear(KernelBenchData.Weights(type, cols, rows, out memory[i]));
                var x = KernelBenchData.Activations(cols);
                var y = new float[rows];
                double best = double.MaxValue, bestBw = double.MaxValue;
                for (int sweep = 0; sweep < 6; sweep++)
                {
                    var sw = Stopwatch.StartNew();
                    foreach (var l in linears)
                        l.Apply(x, 1, y, pool);
                    if (sweep > 0)
                        best = Math.Min(best, sw.Elapsed.TotalSeconds);
                    sw.Restart();
                    bw.StreamRead2Threads();
                    bestBw = Math.Min(bestBw, sw.Elapsed.TotalSeconds);
                }
                double gb = (double)bytes * count / 1e9, stream = (512 << 20) / 1e9 / bestBw;
                Console.WriteLine($"{type,-5} {cols,5}x{rows,-5} x{count,4} ({gb * 1e3,4:F0} MB, packed {linears[0].Packed is not null,-5})  mat-vec {gb / best,6:F2} GB/s  stream {stream,5:F2} GB/s  share {gb / best / stream,5:P0}");
                foreach (var l in linears)
                    l.Packed?.Dispose();
                foreach (var m in memory)
                    unsafe { System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)m); }
            }
        }
        bw.Cleanup();
    }
}
