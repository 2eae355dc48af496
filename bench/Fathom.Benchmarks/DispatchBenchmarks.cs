using BenchmarkDotNet.Attributes;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// Cost of one parallel loop on 2 threads, WorkerPool.For vs Parallel.For: a trivial body (2 chunks), and
/// 16 chunks of ~1 µs of arithmetic each (the shape of a decode mat-vec's tiles) against the same work run serially.
/// </summary>
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

    private const int Chunks = 16, Work = 400;

    private struct WorkBody : IParallelBody
    {
        public long[] Sink;

        public readonly void Invoke(int start, int end)
        {
            for (int c = start; c < end; c++)
            {
                long a = c;
                for (int k = 0; k < Work; k++)
                    a = a * 31 + k;
                Sink[(c & 7) * 8] = a;
            }
        }
    }

    [Benchmark]
    public void Work16Serial()
    {
        var b = new WorkBody { Sink = _sink };
        b.Invoke(0, Chunks);
    }

    [Benchmark]
    public void Work16WorkerPool()
    {
        var b = new WorkBody { Sink = _sink };
        _pool.For(Chunks, ref b, 1);
    }

    [Benchmark]
    public void Work16ParallelFor()
    {
        var b = new WorkBody { Sink = _sink };
        Parallel.For(0, Chunks, _options, i => b.Invoke(i, i + 1));
    }
}
