using BenchmarkDotNet.Attributes;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// Decode-shaped mat-vec on 2 threads; divide the weight bytes (WeightMB column) by the mean time
/// for GB/s. Run: dotnet run -c Release --project bench/Fathom.Benchmarks -- --filter '*MatVec*' --job short
/// </summary>
[MemoryDiagnoser]
public class MatVecBenchmarks
{
    private TensorView _w;
    private IntPtr _mem;
    private float[] _x = [], _y = [];
    private WorkerPool _pool = null!;

    [Params(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16)]
    public GgmlType Type { get; set; }

    private Fathom.Models.Linear? _linear;

    [Params("2048x2048", "2048x8192", "8192x2048")]
    public string Shape { get; set; } = "2048x2048";

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x');
        int cols = int.Parse(parts[0]), rows = int.Parse(parts[1]);
        _w = KernelBenchData.Weights(Type, cols, rows, out _mem);
        _x = KernelBenchData.Activations(cols);
        _y = new float[rows];
        _pool = new WorkerPool(2);
        // F16 decode (llamafile tinyBLAS order) and Q4_0/Q4_K (their load-time packed copy) run behind the model's Linear, as in the forward pass.
        _linear = Type is GgmlType.F16 or GgmlType.Q4_0 or GgmlType.Q4_K ? new Fathom.Models.Linear(_w) : null;
        Console.WriteLine($"// simd path: {Simd.Describe()}; weight bytes {_w.ByteLength}");
    }

    [GlobalCleanup]
    public unsafe void Cleanup()
    {
        _pool.Dispose();
        System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)_mem);
    }

    [Benchmark]
    public void MatVec()
    {
        if (_linear is not null)
            _linear.Apply(_x, 1, _y, _pool);
        else
            Kernels.MatVec(_w, _x, _y, _pool);
    }
}

/// <summary>Every supported type at one shape (2048 columns × 8192 rows), 2 threads.</summary>
[MemoryDiagnoser]
public class MatVecAllTypesBenchmarks
{
    private TensorView _w;
    private IntPtr _mem;
    private float[] _x = [], _y = [];
    private WorkerPool _pool = null!;

    [Params(GgmlType.F32, GgmlType.F16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS)]
    public GgmlType Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _w = KernelBenchData.Weights(Type, 2048, 8192, out _mem);
        _x = KernelBenchData.Activations(2048);
        _y = new float[8192];
        _pool = new WorkerPool(2);
    }

    [GlobalCleanup]
    public unsafe void Cleanup()
    {
        _pool.Dispose();
        System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)_mem);
    }

    [Benchmark]
    public void MatVec() => Kernels.MatVec(_w, _x, _y, _pool);
}
