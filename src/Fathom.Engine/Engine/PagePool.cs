using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Fathom.Engine;

/// <summary>
/// The engine's KV pages as bookkeeping (vLLM's block pool): reference counts, a free list, and the
/// automatic prefix cache — full pages keyed by a chained hash stay cached after their last user
/// releases them, in LRU order, until a new page is needed. Pins (cache_control TTLs) keep pages
/// ahead of unpinned ones in eviction. Single-threaded: only the scheduler thread calls it.
/// </summary>
internal sealed class PagePool
{
    private readonly int[] _refs;
    private readonly UInt128[] _keys;
    private readonly bool[] _keyed;
    private readonly DateTimeOffset[] _pinnedUntil;
    private readonly Stack<int> _free = new();
    private readonly LinkedList<int> _lru = new();
    private readonly LinkedListNode<int>?[] _lruNodes;
    private readonly Dictionary<UInt128, int> _cached = [];
    private readonly TimeProvider _clock;

    public PagePool(int pages, int pageSize, TimeProvider? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pages);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        Capacity = pages;
        PageSize = pageSize;
        _clock = clock ?? TimeProvider.System;
        _refs = new int[pages];
        _keys = new UInt128[pages];
        _keyed = new bool[pages];
        _pinnedUntil = new DateTimeOffset[pages];
        _lruNodes = new LinkedListNode<int>?[pages];
        for (int p = pages - 1; p >= 0; p--)
            _free.Push(p);
    }

    public int Capacity { get; }
    public int PageSize { get; }

    /// <summary>Pages a new allocation can take: never used, or cached with no user.</summary>
    public int Available => _free.Count + _lru.Count;

    /// <summary>Pages held by at least one sequence.</summary>
    public int InUse => Capacity - Available;

    /// <summary>Pages whose content is findable by hash (in use or not).</summary>
    public int CachedPages => _cached.Count;

    /// <summary>Told each page that leaves use for good (freed without a key, or evicted from the cache), so its KV can go.</summary>
    public Action<int>? Dropped { get; set; }

    /// <summary>Cached pages evicted to make room.</summary>
    public long Evictions { get; private set; }

    public int RefCount(int page) => _refs[page];

    public int PagesFor(int tokens) => (tokens + PageSize - 1) / PageSize;

    /// <summary>Takes a page for a new user: a never-used one first, else evicts the least recently used cached page (unpinned before pinned).</summary>
    public bool TryAllocate(out int page)
    {
        if (_free.TryPop(out page))
        {
            _refs[page] = 1;
            return true;
        }
        var victim = PickVictim();
        if (victim is null)
        {
            page = -1;
            return false;
        }
        page = victim.Value;
        _lru.Remove(victim);
        _lruNodes[page] = null;
        Forget(page);
        Evictions++;
        Dropped?.Invoke(page);
        _refs[page] = 1;
        return true;
    }

    /// <summary>Adds a user to a page (a prefix-cache hit); a cached page with no user leaves the LRU.</summary>
    public void Retain(int page)
    {
        if (_refs[page]++ == 0)
        {
            var node = _lruNodes[page] ?? throw new InvalidOperationException($"page {page} is neither in use nor cached");
            _lru.Remove(node);
            _lruNodes[page] = null;
        }
    }

    /// <summary>Drops a user; the last one sends a keyed page to the LRU tail and an unkeyed one to the free list.</summary>
    public void Release(int page)
    {
        if (_refs[page] <= 0)
            throw new InvalidOperationException($"page {page} released more often than retained");
        if (--_refs[page] > 0)
            return;
        if (_keyed[page])
            _lruNodes[page] = _lru.AddLast(page);
        else
        {
            _free.Push(page);
            Dropped?.Invoke(page);
        }
    }

    /// <summary>The cached page holding the content <paramref name="key"/> names, if any (not retained).</summary>
    public bool TryLookup(UInt128 key, out int page) => _cached.TryGetValue(key, out page);

    /// <summary>Makes a full page findable by <paramref name="key"/>; a key already cached keeps its first page (this one stays private).</summary>
    public void Register(int page, UInt128 key)
    {
        if (_keyed[page] || !_cached.TryAdd(key, page))
            return;
        _keys[page] = key;
        _keyed[page] = true;
    }

    /// <summary>Keeps a page ahead of unpinned pages in eviction until <paramref name="until"/> (the later pin wins).</summary>
    public void Pin(int page, DateTimeOffset until)
    {
        if (_keyed[page] && until > _pinnedUntil[page])
            _pinnedUntil[page] = until;
    }

    public bool IsPinned(int page) => _pinnedUntil[page] > _clock.GetUtcNow();

    /// <summary>Keyed pages, idle ones in LRU order (least recent first) then those in use.</summary>
    public List<(int Page, UInt128 Key)> CachedEntries()
    {
        var list = new List<(int, UInt128)>(_cached.Count);
        foreach (int p in _lru)
            list.Add((p, _keys[p]));
        foreach (var (key, p) in _cached)
        {
            if (_refs[p] > 0)
                list.Add((p, key));
        }
        return list;
    }

    /// <summary>Takes a page for content <paramref name="key"/> read back from disk and leaves it cached, idle, at the LRU's recent end; false when the key is cached already or no page is free.</summary>
    public bool TryRestore(UInt128 key, out int page)
    {
        page = -1;
        if (_cached.ContainsKey(key) || _free.Count == 0)
            return false;
        page = _free.Pop();
        _refs[page] = 1;
        Register(page, key);
        Release(page);
        return true;
    }

    private LinkedListNode<int>? PickVictim()
    {
        // Unpinned (or expired) pages go first in LRU order; a cache is best effort, so when only pinned
        // pages remain the one expiring soonest goes rather than failing the allocation.
        var now = _clock.GetUtcNow();
        LinkedListNode<int>? soonest = null;
        for (var n = _lru.First; n is not null; n = n.Next)
        {
            if (_pinnedUntil[n.Value] <= now)
                return n;
            if (soonest is null || _pinnedUntil[n.Value] < _pinnedUntil[soonest.Value])
                soonest = n;
        }
        return soonest;
    }

    private void Forget(int page)
    {
        if (!_keyed[page])
            return;
        _cached.Remove(_keys[page]);
        _keyed[page] = false;
        _pinnedUntil[page] = default;
    }
}

/// <summary>Chained page hashes: a page's key covers its tokens and, through its parent, every token before it and the tenant.</summary>
internal static class PageHash
{
    /// <summary>The hash root of a tenant; null is the shared tenant, distinct from every named one.</summary>
    public static UInt128 Root(string? tenant)
    {
        int n = tenant is null ? 0 : Encoding.UTF8.GetByteCount(tenant);
        byte[] buf = new byte[16 + n];
        Encoding.ASCII.GetBytes("fathom/prefix/v1").CopyTo(buf, 0);
        if (tenant is not null)
        {
            Encoding.UTF8.GetBytes(tenant, buf.AsSpan(16));
            buf[15] ^= 1;
        }
        return Take(buf);
    }

    public static UInt128 Next(UInt128 parent, ReadOnlySpan<int> tokens)
    {
        int bytes = 16 + 4 * tokens.Length;
        byte[]? rented = bytes > 1024 ? ArrayPool<byte>.Shared.Rent(bytes) : null;
        Span<byte> buf = rented is null ? stackalloc byte[bytes] : rented.AsSpan(0, bytes);
        BinaryPrimitives.WriteUInt128LittleEndian(buf, parent);
        for (int i = 0; i < tokens.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(buf[(16 + 4 * i)..], tokens[i]);
        var key = Take(buf);
        if (rented is not null)
            ArrayPool<byte>.Shared.Return(rented);
        return key;
    }

    private static UInt128 Take(ReadOnlySpan<byte> data)
    {
        // SHA-256 rather than a fast hash: a collision would hand one tenant another's KV.
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(data, digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }
}
