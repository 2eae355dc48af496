namespace Fathom.KvCache;

/// <summary>
/// Fixed-size pages with reference counts. Every page has the same size, so a freed page is reused
/// as is (no fragmentation). With a RAM budget, the least recently used pages spill to a file and come
/// back when read. Thread-safe.
/// </summary>
public sealed class BlockPool : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<byte[]?> _data = [];
    private readonly List<int> _refs = [];
    private readonly List<long> _touched = [];
    private readonly List<long> _diskSlot = [];
    private readonly Stack<int> _free = new();
    private readonly Stack<long> _freeDiskSlots = new();
    private readonly long _maxPages;
    private readonly long _ramPages;
    private readonly string? _spillDirectory;
    private FileStream? _spill;
    private long _diskSlots;
    private long _clock;
    private int _resident;
    private bool _disposed;

    /// <param name="pageBytes">Bytes per page.</param>
    /// <param name="maxPages">Pages that may exist at once (0: unbounded).</param>
    /// <param name="ramBytes">Bytes of pages kept in memory; more spill to disk (0: no limit).</param>
    /// <param name="spillDirectory">Where the spill file goes (default: the Fathom cache directory).</param>
    public BlockPool(int pageBytes, long maxPages = 0, long ramBytes = 0, string? spillDirectory = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(maxPages);
        ArgumentOutOfRangeException.ThrowIfNegative(ramBytes);
        PageBytes = pageBytes;
        _maxPages = maxPages;
        _ramPages = ramBytes == 0 ? long.MaxValue : Math.Max(2, ramBytes / pageBytes);
        _spillDirectory = spillDirectory;
    }

    public int PageBytes { get; }

    /// <summary>Pages handed out and not yet released.</summary>
    public int PagesUsed { get { lock (_lock) return _refs.Count - _free.Count; } }

    /// <summary>Pages allocated before and free for reuse.</summary>
    public int PagesFree { get { lock (_lock) return _free.Count; } }

    /// <summary>Pages held in memory and on disk (used pages only).</summary>
    public KvTierStats Stats
    {
        get
        {
            lock (_lock)
            {
                int used = _refs.Count - _free.Count, onDisk = 0;
                for (int i = 0; i < _refs.Count; i++)
                {
                    if (_refs[i] > 0 && _data[i] is null)
                        onDisk++;
                }
                return new KvTierStats((long)(used - onDisk) * PageBytes, (long)onDisk * PageBytes, Hits, DiskReads, DiskWrites, DiskReads * (long)PageBytes, DiskWrites * (long)PageBytes);
            }
        }
    }

    private long Hits { get; set; }
    private long DiskReads { get; set; }
    private long DiskWrites { get; set; }

    /// <summary>A zero-filled page with reference count 1.</summary>
    public int Allocate()
    {
        lock (_lock)
        {
            int id;
            if (_free.Count > 0)
            {
                id = _free.Pop();
                _refs[id] = 1;
            }
            else
            {
                if (_maxPages > 0 && _refs.Count >= _maxPages)
                    throw new KvCacheFullException($"the KV cache is full: all {_maxPages} pages of {PageBytes} bytes are in use");
                id = _refs.Count;
                _data.Add(null);
                _refs.Add(1);
                _touched.Add(0);
                _diskSlot.Add(-1);
            }
            MakeRoom();
            _data[id] = new byte[PageBytes];
            _resident++;
            _touched[id] = ++_clock;
            return id;
        }
    }

    /// <summary>Adds a reference (a second sequence shares the page).</summary>
    public void Retain(int page)
    {
        lock (_lock)
        {
            Check(page);
            _refs[page]++;
        }
    }

    /// <summary>Drops a reference; the last one returns the page to the free list.</summary>
    public void Release(int page)
    {
        lock (_lock)
        {
            Check(page);
            if (--_refs[page] > 0)
                return;
            if (_data[page] is not null)
                _resident--;
            _data[page] = null;
            if (_diskSlot[page] >= 0)
                _freeDiskSlots.Push(_diskSlot[page]);
            _diskSlot[page] = -1;
            _free.Push(page);
        }
    }

    public int RefCount(int page)
    {
        lock (_lock)
        {
            Check(page);
            return _refs[page];
        }
    }

    /// <summary>
    /// The page's bytes, read back from disk if it spilled. The array stays valid after a later spill
    /// (spilling drops the pool's reference, it never reuses the array), but writes must happen before
    /// the next pool call of another thread.
    /// </summary>
    public byte[] Data(int page)
    {
        lock (_lock)
        {
            Check(page);
            _touched[page] = ++_clock;
            if (_data[page] is { } d)
            {
                Hits++;
                return d;
            }
            // A disposed pool no longer has its spill file: a page left on disk cannot come back.
            ObjectDisposedException.ThrowIf(_disposed, this);
            MakeRoom();
            d = new byte[PageBytes];
            _spill!.Position = _diskSlot[page] * PageBytes;
            _spill.ReadExactly(d);
            DiskReads++;
            _data[page] = d;
            _resident++;
            return d;
        }
    }

    /// <summary>
    /// The in-memory arrays of <paramref name="ids"/> under one lock (what <see cref="Data"/> would return, without
    /// reading back spilled pages: those get null); returns how many are on disk. Lets attention take a layer's
    /// pages once per call instead of a lock per page on every worker thread.
    /// </summary>
    internal int ResidentData(ReadOnlySpan<int> ids, Span<byte[]?> dst)
    {
        int missing = 0;
        lock (_lock)
        {
            long clock = ++_clock;
            // Without a RAM budget nothing spills and recency is never read, so pages are not touched: a decode step's
            // pages are scattered, and each touch (like each reference count) is a line from memory on the caller's
            // thread while the workers wait.
            bool lru = _ramPages != long.MaxValue;
            var data = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_data);
            for (int i = 0; i < ids.Length; i++)
            {
                int page = ids[i];
                // A page in memory is an allocated one (the last release drops its array): only the others are checked.
                if ((uint)page >= (uint)data.Length || (dst[i] = data[page]) is null)
                {
                    Check(page);
                    missing++;
                }
                if (lru)
                    _touched[page] = clock;
            }
            Hits += ids.Length - missing;
        }
        return missing;
    }

    /// <summary>Asks for <paramref name="page"/> to be in memory soon (a policy's next reads); loads it now on a pool thread.</summary>
    /// <remarks>
    /// A hint: by the time it runs the page may be back in memory, released, or the pool disposed, and then it does
    /// nothing (an exception on a pool thread would end the process).
    /// </remarks>
    public void Prefetch(int page) => ThreadPool.UnsafeQueueUserWorkItem(p =>
    {
        try
        {
            lock (_lock)
            {
                if (_disposed || (uint)p >= (uint)_refs.Count || _refs[p] <= 0 || _data[p] is not null)
                    return;
            }
            Data(p);
        }
        catch (Exception e) when (e is ObjectDisposedException or IOException or ArgumentOutOfRangeException)
        {
        }
    }, page, preferLocal: false);

    private void Check(int page)
    {
        if ((uint)page >= (uint)_refs.Count || _refs[page] <= 0)
            throw new ArgumentOutOfRangeException(nameof(page), $"page {page} is not allocated");
    }

    // Spills least recently used pages until one more fits the RAM budget.
    private void MakeRoom()
    {
        while (_resident >= _ramPages && !_disposed)
        {
            int victim = -1;
            long oldest = long.MaxValue;
            for (int i = 0; i < _refs.Count; i++)
            {
                if (_refs[i] > 0 && _data[i] is not null && _touched[i] < oldest)
                {
                    oldest = _touched[i];
                    victim = i;
                }
            }
            if (victim < 0)
                return;
            _spill ??= OpenSpill();
            if (_diskSlot[victim] < 0)
                _diskSlot[victim] = _freeDiskSlots.Count > 0 ? _freeDiskSlots.Pop() : _diskSlots++;
            _spill.Position = _diskSlot[victim] * PageBytes;
            _spill.Write(_data[victim]);
            DiskWrites++;
            _data[victim] = null;
            _resident--;
        }
    }

    private FileStream OpenSpill()
    {
        string dir = _spillDirectory ?? KvPaths.CacheDirectory();
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"kv-spill-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
        return new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 4096, FileOptions.DeleteOnClose | FileOptions.RandomAccess);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            // After this no page is read back or spilled: a late Data or MakeRoom must not open a fresh, empty spill file.
            _disposed = true;
            _spill?.Dispose();
            _spill = null;
        }
    }
}

/// <summary>Where KV pages are and how often they moved: bytes in RAM and on disk, page reads served from RAM (hits) and from disk.</summary>
public readonly record struct KvTierStats(long RamBytes, long DiskBytes, long Hits, long DiskReads, long DiskWrites, long BytesRead, long BytesWritten);

/// <summary>No page left for a new position.</summary>
public sealed class KvCacheFullException(string message) : InvalidOperationException(message);

internal static class KvPaths
{
    /// <summary>$FATHOM_CACHE_DIR, else ~/.cache/fathom.</summary>
    public static string CacheDirectory() =>
        Environment.GetEnvironmentVariable("FATHOM_CACHE_DIR") is { Length: > 0 } d ? d
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "fathom");
}
