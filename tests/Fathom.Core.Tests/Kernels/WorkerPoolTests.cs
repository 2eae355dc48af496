using Fathom.Threading;

namespace Fathom.Tests;

[Trait("Category", "Kernels")]
public class WorkerPoolTests
{
    private struct MarkBody : Fathom.Threading.IParallelBody
    {
        public int[] Hits;

        public readonly void Invoke(int start, int end)
        {
            for (int i = start; i < end; i++)
                Interlocked.Increment(ref Hits[i]);
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(4, 2000)]
    [InlineData(3, 0)]
    public void EveryIndexRunsExactlyOnce(int threads, int spin)
    {
        using var pool = new WorkerPool(threads, spin);
        foreach (int n in new[] { 1, 2, 7, 64, 1000 })
        {
            foreach (int grain in new[] { 0, 1, 3, 1000 })
            {
                for (int rep = 0; rep < 20; rep++)
                {
                    var body = new MarkBody { Hits = new int[n] };
                    pool.For(n, ref body, grain);
                    Assert.All(body.Hits, h => Assert.Equal(1, h));
                }
            }
        }
    }

    [Fact]
    public void UsesMoreThanOneThreadAndNestedLoopsRunInline()
    {
        using var pool = new WorkerPool(2, 0);
        var ids = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        int inner = 0;
        pool.For(64, (s, e) =>
        {
            ids[Environment.CurrentManagedThreadId] = true;
            Thread.Sleep(2);
            pool.For(4, (a, b) => Interlocked.Add(ref inner, b - a));
        }, 1);
        Assert.Equal(2, ids.Count);
        Assert.Equal(64 * 4, inner);
    }

    [Fact]
    public void BodyExceptionSurfacesAndPoolStaysUsable()
    {
        using var pool = new WorkerPool(2, 0);
        var ex = Assert.Throws<AggregateException>(() => pool.For(100, (s, e) =>
        {
            if (s <= 50 && 50 < e)
                throw new InvalidOperationException("boom");
        }, 1));
        Assert.IsType<InvalidOperationException>(ex.InnerException);
        int sum = 0;
        pool.For(100, (s, e) => Interlocked.Add(ref sum, e - s), 1);
        Assert.Equal(100, sum);
    }

    [Fact]
    public void ConcurrentCallersAreSerialized()
    {
        using var pool = new WorkerPool(2, 100);
        long total = 0;
        Parallel.For(0, 4, _ =>
        {
            for (int k = 0; k < 50; k++)
                pool.For(32, (s, e) => Interlocked.Add(ref total, e - s), 2);
        });
        Assert.Equal(4 * 50 * 32, total);
    }

    [Fact]
    public void IdleWorkersParkAfterTheSpinBudget()
    {
        using var pool = new WorkerPool(3, 200);
        for (int k = 0; k < 10; k++)
            pool.For(64, (s, e) => Thread.SpinWait(50), 1);
        // Polling stops after 200 µs; allow a loaded machine plenty of time to get there.
        var until = DateTime.UtcNow.AddSeconds(20);
        while (pool.ParkedWorkers < 2 && DateTime.UtcNow < until)
            Thread.Sleep(5);
        Assert.Equal(2, pool.ParkedWorkers);
        int sum = 0;
        pool.For(100, (s, e) => Interlocked.Add(ref sum, e - s), 1);
        Assert.Equal(100, sum);
    }

    // Chunk 0 waits (bounded) until another thread has started chunk 1, so the worker really joins the loop.
    private struct RendezvousBody : Fathom.Threading.IParallelBody
    {
        public int[] Started;
        public long[] WorkerBytes;
        public int Caller;

        public readonly void Invoke(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                if (Environment.CurrentManagedThreadId != Caller)
                {
                    long bytes = GC.GetAllocatedBytesForCurrentThread();
                    if (WorkerBytes[0] < 0)
                        WorkerBytes[0] = bytes;
                    WorkerBytes[1] = bytes;
                    Interlocked.Increment(ref WorkerBytes[2]);
                }
                if (i == 1)
                    Volatile.Write(ref Started[0], 1);
                long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 20;
                while (i == 0 && Volatile.Read(ref Started[0]) == 0 && System.Diagnostics.Stopwatch.GetTimestamp() < deadline)
                    Thread.SpinWait(1);
            }
        }
    }

    /// <summary>Neither the caller nor a worker allocates per call, also when the worker parks between calls (spin 0).</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(WorkerPool.DefaultSpinMicroseconds)]
    public void CallsAllocateNothingOnAnyThread(int spin)
    {
        using var pool = new WorkerPool(2, spin);
        var body = new RendezvousBody { Started = new int[1], WorkerBytes = [-1, 0, 0], Caller = Environment.CurrentManagedThreadId };
        for (int k = 0; k < 50; k++)
        {
            body.Started[0] = 0;
            pool.For(2, ref body, 1);
        }
        body.WorkerBytes[0] = -1;
        body.WorkerBytes[2] = 0;
        Assert.Equal(0, Allocations.Of(() =>
        {
            // The lambda's copy (its arrays are the same ones). `body` itself is captured, so it lives in the heap:
            // For runs the workers on a stack copy of whatever it is given.
            var local = body;
            for (int k = 0; k < 500; k++)
            {
                local.Started[0] = 0;
                pool.For(2, ref local, 1);
            }
        }));
        Assert.True(body.WorkerBytes[2] > 1, "the worker never joined a loop");
        Assert.Equal(body.WorkerBytes[0], body.WorkerBytes[1]);
    }

    [Fact]
    public void DisposedPoolThrowsAndBadArgumentsThrow()
    {
        var pool = new WorkerPool(2);
        Assert.Equal(2, pool.ThreadCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.For(-1, (s, e) => { }));
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.For(10, (s, e) => { }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(-1));
    }
}
