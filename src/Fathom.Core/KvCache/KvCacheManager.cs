namespace Fathom.KvCache;

/// <summary>
/// The KV store of every sequence of one model: one <see cref="BlockPool"/> of pages shared by all
/// sequences, which allocate, fork (sharing pages) and free. Not thread-safe across calls that change
/// sequences; attention may read from many threads.
/// </summary>
public sealed class KvCacheManager : IDisposable
{
    private readonly HashSet<KvSequence> _live = [];
    private int _nextId;

    public KvCacheManager(KvCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Pool = new BlockPool(options.PageBytes, options.MaxPages, options.RamBytes, options.SpillDirectory);
    }

    public KvCacheOptions Options { get; }
    public BlockPool Pool { get; }

    /// <summary>Sequences created and not yet freed.</summary>
    public int SequenceCount => _live.Count;

    /// <summary>Pages in use, pages free for reuse, and where the used pages are.</summary>
    public KvAccounting Accounting => new(Pool.PagesUsed, Pool.PagesFree, Pool.PageBytes, Pool.Stats);

    /// <summary>A new empty sequence of at most <paramref name="capacity"/> positions.</summary>
    public KvSequence Create(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        var s = new KvSequence(this, _nextId++, capacity);
        _live.Add(s);
        return s;
    }

    /// <summary>A new sequence that shares every page of <paramref name="source"/> (copy on write of a partly filled last page).</summary>
    public KvSequence Fork(KvSequence source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Own(source);
        var s = source.CloneInto(_nextId++);
        _live.Add(s);
        return s;
    }

    /// <summary>Returns every page of <paramref name="sequence"/>; the sequence is unusable afterwards.</summary>
    public void Free(KvSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        Own(sequence);
        sequence.ReleaseAll();
        _live.Remove(sequence);
    }

    internal void Own(KvSequence s)
    {
        if (s.Manager != this || !_live.Contains(s))
            throw new InvalidOperationException($"sequence {s.Id} does not belong to this cache or was freed");
    }

    public void Dispose() => Pool.Dispose();
}

/// <summary>Page counts and bytes by tier.</summary>
public readonly record struct KvAccounting(int PagesUsed, int PagesFree, int PageBytes, KvTierStats Tiers)
{
    public long BytesUsed => (long)PagesUsed * PageBytes;
}
