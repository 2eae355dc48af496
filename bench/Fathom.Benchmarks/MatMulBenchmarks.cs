using BenchmarkDotNet.Attributes;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>Prefill-shaped mat-mul: 2048×2048 weights × 512 activation rows, 2 threads; GFLOP/s = 2·2048·2048·512 / time.</summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    private TensorView _w;
    private IntPtr _mem;
    private float[] _x = [], _y = [];
    private WorkerPool _pool = null!;

    [Params(GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q8_0)]
    public GgmlType Type { get; set; }

    [Params(512)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _w = KernelBenchData.Weights(Type, 2048, 2048, out _mem);
        _x = KernelBenchData.Activations(2048 * Batch);
        _y = new float[2048 * Batch];
        _pool = new WorkerPool(2);
    }

    [GlobalCleanup]
    public unsafe void Cleanup()
    {
        _pool.Dispose();
        System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)_mem);
    }

    [Benchmark]
    public void MatMul() => Kernels.MatMul(_w, _x, Batch, _y, _pool);
}
