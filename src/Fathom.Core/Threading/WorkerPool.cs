using System.Runtime.CompilerServices;

namespace Fathom.Threading;

/// <summary>The body of a parallel loop: called with disjoint ranges [start, end) that cover [0, count).</summary>
public interface IParallelBody
{
    void Invoke(int start, int end);
}

/// <summary>
/// Persistent worker threads for the many small parallel loops of a forward pass. A call hands
/// out chunks of the index range through one atomic counter (the calling thread works too);
/// workers spin briefly for the next call, then block, so an idle pool costs nothing.
/// A call allocates nothing; loops started from inside a loop body run inline.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    [ThreadStatic] private static WorkerPool? t_running;

    private readonly Thread[] _threads;
    private readonly object _gate = new();
    private readonly object _dispatch = new();
    private readonly int _spinIterations;

    // The current job; written by the dispatcher before the generation bump publishes it.
    private delegate*<void*, int, int, void> _invoke;
    private void* _body;
    private int _count;
    private int _grain;
    private int _next;
    private Exception? _error;

    private int _generation;
    // Workers that joined the current job (low bits) and whether the job is closed to joiners (Closed bit).
    private int _state = Closed;
    private const int Closed = 1 << 30;
    private int _sleepers;
    private int _callerWaiting;
    private volatile bool _disposed;

    /// <param name="threadCount">Threads that run a loop, the caller included (1 = everything inline). Default: processor count.</param>
    /// <param name="spinIterations">Polls before a waiting thread blocks; 0 blocks at once (for oversubscribed machines).</param>
    public WorkerPool(int threadCount = 0, int spinIterations = 2000)
    {
        if (threadCount < 0)
            throw new ArgumentOutOfRangeException(nameof(threadCount), "Thread count cannot be negative.");
        ArgumentOutOfRangeException.ThrowIfNegative(spinIterations);
        ThreadCount = threadCount == 0 ? Environment.ProcessorCount : threadCount;
        _spinIterations = spinIterations;
        _threads = new Thread[ThreadCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"fathom-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads that take part in a loop, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>
    /// Runs <paramref name="body"/> over [0, <paramref name="count"/>) in chunks of <paramref name="grain"/>
    /// indices (0 = an even split into a few chunks per thread). <paramref name="body"/> must live
    /// on the caller's stack (a local), which it does when passed as <c>ref local</c>.
    /// </summary>
    public void For<T>(int count, ref T body, int grain = 0) where T : struct, IParallelBody
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(grain);
        if (count == 0)
            return;
        if (grain == 0)
            grain = Math.Max(1, count / (ThreadCount * 4));
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_threads.Length == 0 || count <= grain || t_running == this)
        {
            body.Invoke(0, count);
            return;
        }
        Monitor.Enter(_dispatch);
        try
        {
            _invoke = &Dispatch<T>;
            _body = Unsafe.AsPointer(ref body);
            _count = count;
            _grain = grain;
            _next = 0;
            _error = null;
            Volatile.Write(ref _state, 0);
            Interlocked.Increment(ref _generation);
            if (Volatile.Read(ref _sleepers) > 0)
            {
                lock (_gate)
                    Monitor.PulseAll(_gate);
            }
            RunChunks();
            // Workers that have not joined yet never will: the caller waits only for those running chunks.
            Interlocked.Or(ref _state, Closed);
            WaitForWorkers();
            _body = null;
            if (_error is { } e)
                throw new AggregateException("A parallel loop body failed.", e);
        }
        finally
        {
            Monitor.Exit(_dispatch);
        }
    }

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, count); allocation-free when the delegate is cached.</summary>
    public void For(int count, Action<int, int> body, int grain = 0)
    {
        ArgumentNullException.ThrowIfNull(body);
        var b = new DelegateBody(body);
        For(count, ref b, grain);
    }

    private static void Dispatch<T>(void* body, int start, int end) where T : struct, IParallelBody =>
        Unsafe.AsRef<T>(body).Invoke(start, end);

    private void RunChunks()
    {
        var previous = t_running;
        t_running = this;
        try
        {
            int count = _count, grain = _grain;
            while (true)
            {
                int start = Interlocked.Add(ref _next, grain) - grain;
                if (start >= count || Volatile.Read(ref _error) is not null)
                    break;
                _invoke(_body, start, Math.Min(count, start + grain));
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
        }
        finally
        {
            t_running = previous;
        }
    }

    private void WaitForWorkers()
    {
        for (int i = 0; i < _spinIterations; i++)
        {
            if (Volatile.Read(ref _state) == Closed)
                return;
            Thread.SpinWait(16);
        }
        lock (_gate)
        {
            Interlocked.Exchange(ref _callerWaiting, 1);
            while (Volatile.Read(ref _state) != Closed)
                Monitor.Wait(_gate);
            _callerWaiting = 0;
        }
    }

    private void WorkerLoop()
    {
        int seen = 0;
        while (true)
        {
            int gen = WaitForJob(seen);
            if (_disposed)
                return;
            seen = gen;
            if (!TryJoin())
                continue;
            RunChunks();
            if (Interlocked.Decrement(ref _state) == Closed && Volatile.Read(ref _callerWaiting) != 0)
            {
                lock (_gate)
                    Monitor.PulseAll(_gate);
            }
        }
    }

    private bool TryJoin()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & Closed) != 0)
                return false;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) == s)
                return true;
        }
    }

    private int WaitForJob(int seen)
    {
        for (int i = 0; i < _spinIterations; i++)
        {
            int g = Volatile.Read(ref _generation);
            if (g != seen || _disposed)
                return g;
            Thread.SpinWait(16);
        }
        lock (_gate)
        {
            Interlocked.Increment(ref _sleepers);
            try
            {
                while (true)
                {
                    int g = Volatile.Read(ref _generation);
                    if (g != seen || _disposed)
                        return g;
                    Monitor.Wait(_gate);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _sleepers);
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        lock (_gate)
            Monitor.PulseAll(_gate);
        foreach (var t in _threads)
            t.Join();
    }

    private readonly struct DelegateBody(Action<int, int> body) : IParallelBody
    {
        public void Invoke(int start, int end) => body(start, end);
    }
}
