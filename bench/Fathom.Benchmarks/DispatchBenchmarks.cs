using BenchmarkDotNet.Attributes;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>Cost of one parallel loop with a trivial body on 2 threads: WorkerPool.For vs Parallel.For.</summary>
[MemoryDiagnoser]
public class DispatchBenchmarks
{
    private WorkerPool _pool = null!;
    private readonly long[] _sink = new long[64];
    private Action<int, int> _body = null!;
    private ParallelOptions _options = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(2);
        _body = (s, e) => _sink[s * 8] += e;
        _options = new ParallelOptions { MaxDegreeOfParallelism = 2 };
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    private struct Body : IParallelBody
    {
        public long[] Sink;

        public readonly void Invoke(int start, int end) => Sink[start * 8] += end;
    }

    [Benchmark(Baseline = true)]
    public void WorkerPoolFor()
    {
        var b = new Body { Sink = _sink };
        _pool.For(2, ref b, 1);
    }

    [Benchmark]
    public void WorkerPoolForDelegate() => _pool.For(2, _body, 1);

    [Benchmark]
    public void ParallelFor() => Parallel.For(0, 2, _options, i => _sink[i * 8] += i);
}
