using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Fathom.Threading;

/// <summary>The body of a parallel loop: called with disjoint ranges [start, end) that cover [0, count).</summary>
public interface IParallelBody
{
    void Invoke(int start, int end);
}

/// <summary>
/// Persistent worker threads for the many small parallel loops of a forward pass. A call hands
/// out chunks of the index range through one atomic counter (the calling thread works too);
/// workers poll for the next call for a short time budget, then block, so an idle pool costs nothing.
/// A call allocates nothing; loops started from inside a loop body run inline.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    [ThreadStatic] private static WorkerPool? t_running;

    private readonly Thread[] _threads;
    private readonly object _gate = new();
    private readonly object _dispatch = new();
    private readonly long _spinTicks;
    private Exception? _error;
    private volatile bool _disposed;

    // Hot fields, one cache line per writer pattern (see Shared).
    private Shared _s;

    private const int Closed = 1 << 30;

    /// <param name="threadCount">Threads that run a loop, the caller included (1 = everything inline). Default: processor count.</param>
    /// <param name="spinMicroseconds">How long a waiting thread polls before it blocks; 0 blocks at once (for oversubscribed machines).</param>
    public WorkerPool(int threadCount = 0, int spinMicroseconds = DefaultSpinMicroseconds)
    {
        if (threadCount < 0)
            throw new ArgumentOutOfRangeException(nameof(threadCount), "Thread count cannot be negative.");
        ArgumentOutOfRangeException.ThrowIfNegative(spinMicroseconds);
        ThreadCount = threadCount == 0 ? Environment.ProcessorCount : threadCount;
        _spinTicks = spinMicroseconds * Stopwatch.Frequency / 1_000_000;
        _s.State = Closed;
        _threads = new Thread[ThreadCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"fathom-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>
    /// Default polling budget: longer than the serial gaps between the loops of one decoded token
    /// (norms, RoPE, sampling: tens of µs to about a millisecond), short enough that an idle pool parks at once.
    /// </summary>
    public const int DefaultSpinMicroseconds = 1000;

    /// <summary>Threads that take part in a loop, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>Workers blocked in the kernel (parked) right now; for tests.</summary>
    internal int ParkedWorkers => Volatile.Read(ref _s.Sleepers);

    /// <summary>
    /// Runs <paramref name="body"/> over [0, <paramref name="count"/>) in chunks of <paramref name="grain"/>
    /// indices (0 = an even split into a few chunks per thread). The workers run on a copy of
    /// <paramref name="body"/> in this call's own frame, copied back when the loop ends: the reference passed in
    /// may point into the heap (a field, or a local a lambda captures), where the GC could move it mid-loop.
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
        // A stack copy: the workers hold a raw pointer to it, which only a location the GC never moves may give.
        T local = body;
        Monitor.Enter(_dispatch);
        try
        {
            _s.Invoke = &Dispatch<T>;
            _s.Body = Unsafe.AsPointer(ref local);
            _s.Count = count;
            _s.Grain = grain;
            _s.Next = 0;
            _error = null;
            Volatile.Write(ref _s.State, 0);
            // Interlocked: a full fence, so a worker that parks after this sees the new generation or is seen in Sleepers.
            Interlocked.Increment(ref _s.Generation);
            if (Volatile.Read(ref _s.Sleepers) > 0)
            {
                lock (_gate)
                    Monitor.PulseAll(_gate);
            }
            RunChunks();
            // Workers that have not joined yet never will: the caller waits only for those running chunks.
            if (Interlocked.Or(ref _s.State, Closed) != 0)
                WaitForWorkers();
            _s.Body = null;
            body = local;
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
            int count = _s.Count, grain = _s.Grain;
            var invoke = _s.Invoke;
            void* body = _s.Body;
            while (true)
            {
                int start = Interlocked.Add(ref _s.Next, grain) - grain;
                if (start >= count || Volatile.Read(ref _error) is not null)
                    break;
                invoke(body, start, Math.Min(count, start + grain));
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

    // One PAUSE per poll (SpinWait(n) is normalised to much longer waits, which delays every join).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pause()
    {
        if (X86Base.IsSupported)
            X86Base.Pause();
        else
            Thread.SpinWait(1);
    }

    // True when the budget is spent; the clock is read once per 64 polls, the deadline set on the first read.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SpinSpent(int poll, ref long deadline)
    {
        if ((poll & 63) != 0)
            return false;
        long now = Stopwatch.GetTimestamp();
        if (deadline == 0)
        {
            deadline = now + _spinTicks;
            return _spinTicks == 0;
        }
        return now >= deadline;
    }

    private void WaitForWorkers()
    {
        long deadline = 0;
        for (int poll = 0; !SpinSpent(poll, ref deadline); poll++)
        {
            if (Volatile.Read(ref _s.State) == Closed)
                return;
            Pause();
        }
        lock (_gate)
        {
            Interlocked.Exchange(ref _s.CallerWaiting, 1);
            while (Volatile.Read(ref _s.State) != Closed)
                Monitor.Wait(_gate);
            _s.CallerWaiting = 0;
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
            if (Interlocked.Decrement(ref _s.State) == Closed && Volatile.Read(ref _s.CallerWaiting) != 0)
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
            int s = Volatile.Read(ref _s.State);
            if ((s & Closed) != 0)
                return false;
            if (Interlocked.CompareExchange(ref _s.State, s + 1, s) == s)
                return true;
        }
    }

    private int WaitForJob(int seen)
    {
        long deadline = 0;
        for (int poll = 0; !SpinSpent(poll, ref deadline); poll++)
        {
            int g = Volatile.Read(ref _s.Generation);
            if (g != seen || _disposed)
                return g;
            Pause();
        }
        lock (_gate)
        {
            Interlocked.Increment(ref _s.Sleepers);
            try
            {
                while (true)
                {
                    int g = Volatile.Read(ref _s.Generation);
                    if (g != seen || _disposed)
                        return g;
                    Monitor.Wait(_gate);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _s.Sleepers);
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

    /// <summary>
    /// The job and the counters, a cache line apart where writers differ: the job (written by the caller
    /// before the generation bump that publishes it) shares one line so a worker reads it in one miss;
    /// the chunk counter, hammered by every thread, has its own; the join counter its own.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 4 * 64)]
    private struct Shared
    {
        [FieldOffset(64)] public int Generation;
        [FieldOffset(68)] public int Sleepers;
        [FieldOffset(72)] public int Count;
        [FieldOffset(76)] public int Grain;
        [FieldOffset(80)] public delegate*<void*, int, int, void> Invoke;
        [FieldOffset(88)] public void* Body;
        [FieldOffset(128)] public int Next;
        [FieldOffset(192)] public int State;
        [FieldOffset(196)] public int CallerWaiting;
    }
}
