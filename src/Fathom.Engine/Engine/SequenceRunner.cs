using System.Runtime.InteropServices;
using Fathom.KvCache;
using Fathom.Models;

namespace Fathom.Engine;

/// <summary>
/// Executes the forward pass of a scheduler step. The seam lets the scheduler and the engine's
/// bookkeeping run under tests without a model.
/// </summary>
internal interface ISequenceRunner : IDisposable
{
    int VocabSize { get; }

    /// <summary>A sequence is admitted holding <paramref name="cached"/> tokens in prefix-cache pages (its first pages); returns how many the runner really has: fewer when it lacks a page, more when a parked partly filled page continues them.</summary>
    int Attach(Sequence s, int cached);

    /// <summary>
    /// Computes every entry's next tokens (positions <see cref="Sequence.Computed"/>…) in one pass and returns,
    /// for each entry whose tokens reach the end of its sequence, in order, the n_vocab logits of its last token.
    /// </summary>
    ReadOnlySpan<float> Forward(IReadOnlyList<(Sequence Sequence, int Tokens)> batch);

    /// <summary>The sequence left the scheduler; its own pages go back (cached pages stay with the cache).</summary>
    void Release(Sequence s, bool keep);

    /// <summary>The scheduler's page <paramref name="page"/> was freed or evicted: the KV it held may go.</summary>
    void Dropped(int page);
}

/// <summary>
/// Runs each step as one <see cref="BatchedForward"/> over all scheduled sequences. The scheduler's pages
/// map to physical KV pages (one per layer): once a page is full its physical pages are held for the
/// scheduler's page, so a later sequence whose prefix hashes to it maps the same physical pages
/// (reference counted) and computes only the rest.
/// </summary>
internal sealed class BatchRunner : ISequenceRunner
{
    private readonly BatchedForward _forward;
    private readonly Model _model;
    private readonly int _context;
    private readonly int _pageSize;
    private readonly Dictionary<long, KvSequence> _live = [];
    private readonly Dictionary<int, int[]> _physical = [];
    private readonly LinkedList<Tail> _tails = new();
    private readonly int _maxTails;
    private readonly List<BatchItem> _items = [];
    private int[] _tokens = [];

    /// <summary>The partly filled last page of a finished sequence, found by the chained key of the full pages before it.</summary>
    private sealed record Tail(UInt128 Key, int[] Tokens, int[] Pages);

    public BatchRunner(Model model, int contextLength, int threads, int pageSize, int maxTails = 4)
    {
        _maxTails = maxTails;
        _model = model;
        _forward = new BatchedForward(model, threads, pageSize);
        _context = contextLength;
        _pageSize = pageSize;
    }

    public int VocabSize => _forward.Config.VocabSize;

    /// <summary>Physical KV pages in use (live sequences and cached prefixes), for accounting and tests.</summary>
    public int PhysicalPagesUsed => _forward.KvCache.Accounting.PagesUsed;

    /// <summary>Scheduler pages whose KV the runner holds for the prefix cache.</summary>
    public int CachedPages => _physical.Count;

    public int Layers => _forward.Config.BlockCount;

    /// <summary>Partly filled last pages of finished sequences kept for a next turn.</summary>
    public int ParkedTails => _tails.Count;

    public int Attach(Sequence s, int cached)
    {
        if (_live.Remove(s.Id, out var old))
            _forward.KvCache.Free(old);
        var kv = _forward.KvCache.Create(_context);
        _live[s.Id] = kv;
        int pages = cached / _pageSize;
        for (int i = 0; i < pages; i++)
        {
            // A hit whose KV the runner does not hold is recomputed (same tokens, same KV).
            if (!_physical.TryGetValue(s.Pages[i], out var ids))
                return i * _pageSize;
            for (int l = 0; l < ids.Length; l++)
                kv.AppendSharedPage(l, ids[l], i * _pageSize);
        }
        return pages * _pageSize + AttachTail(s, kv, pages);
    }

    // Full pages stop a page short of where a conversation ended; its parked last page covers the rest,
    // so a next turn computes only its new tokens. The shared page is copied on the first write.
    private int AttachTail(Sequence s, KvSequence kv, int pages)
    {
        var key = pages == 0 ? s.HashRoot : s.PageKeys[pages - 1];
        var rest = CollectionsMarshal.AsSpan(s.Tokens)[(pages * _pageSize)..^1];
        for (var node = _tails.First; node is not null; node = node.Next)
        {
            var tail = node.Value;
            if (tail.Key != key)
                continue;
            int m = rest.CommonPrefixLength(tail.Tokens);
            if (m == 0)
                continue;
            for (int l = 0; l < tail.Pages.Length; l++)
                kv.AppendSharedPage(l, tail.Pages[l], pages * _pageSize, m);
            _tails.Remove(node);
            _tails.AddFirst(node);
            return m;
        }
        return 0;
    }

    private void ParkTail(Sequence s, KvSequence kv)
    {
        int computed = kv.NextPosition, full = computed / _pageSize;
        if (_maxTails == 0 || computed % _pageSize == 0 || !kv.IsDense)
            return;
        var tokens = CollectionsMarshal.AsSpan(s.Tokens);
        var key = s.HashRoot;
        for (int p = 0; p < full; p++)
            key = PageHash.Next(key, tokens.Slice(p * _pageSize, _pageSize));
        var ids = new int[kv.LayerCount];
        for (int l = 0; l < ids.Length; l++)
        {
            ids[l] = kv.PageId(l, full);
            _forward.KvCache.Pool.Retain(ids[l]);
        }
        _tails.AddFirst(new Tail(key, tokens[(full * _pageSize)..computed].ToArray(), ids));
        while (_tails.Count > _maxTails)
        {
            ReleaseIds(_tails.Last!.Value.Pages);
            _tails.RemoveLast();
        }
    }

    private void ReleaseIds(int[] ids)
    {
        foreach (int id in ids)
            _forward.KvCache.Pool.Release(id);
    }

    public ReadOnlySpan<float> Forward(IReadOnlyList<(Sequence Sequence, int Tokens)> batch)
    {
        int rows = 0;
        foreach (var (_, n) in batch)
            rows += n;
        if (_tokens.Length < rows)
            _tokens = new int[Math.Max(rows, 2 * _tokens.Length)];
        _items.Clear();
        int at = 0;
        foreach (var (s, n) in batch)
        {
            var kv = _live[s.Id];
            if (kv.NextPosition != s.Computed)
                throw new InvalidOperationException($"sequence {s.Id} is at {s.Computed} but its KV at {kv.NextPosition}");
            CollectionsMarshal.AsSpan(s.Tokens).Slice(s.Computed, n).CopyTo(_tokens.AsSpan(at));
            _items.Add(new BatchItem(kv, _tokens.AsMemory(at, n), s.Computed, s.Computed + n == s.Tokens.Count));
            at += n;
        }
        var logits = _forward.Forward(CollectionsMarshal.AsSpan(_items));
        foreach (var (s, n) in batch)
            HoldFullPages(s, s.Computed, s.Computed + n);
        return logits;
    }

    // Pages that became full in this step keep their KV for the scheduler's page until it is dropped.
    private void HoldFullPages(Sequence s, int from, int to)
    {
        var kv = _live[s.Id];
        var pool = _forward.KvCache.Pool;
        for (int i = from / _pageSize; i < to / _pageSize; i++)
        {
            int page = s.Pages[i];
            if (_physical.ContainsKey(page))
                continue;
            var ids = new int[kv.LayerCount];
            for (int l = 0; l < ids.Length; l++)
            {
                ids[l] = kv.PageId(l, i);
                pool.Retain(ids[l]);
            }
            _physical[page] = ids;
        }
    }

    /// <summary>Identifies the model and KV layout a saved prefix cache must match.</summary>
    public string Fingerprint
    {
        get
        {
            var c = _forward.Config;
            var o = _forward.KvCache.Options;
            long size = _model.File.Path is { } path && File.Exists(path) ? new FileInfo(path).Length : -1;
            return $"{c.Architecture}/{c.BlockCount}/{c.EmbeddingLength}/{c.HeadCount}/{c.HeadCountKv}/{c.VocabSize}/{size}/{o.PageSize}/{o.PageBytes}/{o.KeyType}/{o.ValueType}";
        }
    }

    public int PageBytes => _forward.KvCache.Options.PageBytes;

    /// <summary>The per-layer KV bytes of a scheduler page the runner holds, or null.</summary>
    public IEnumerable<byte[]>? PageData(int page) =>
        _physical.TryGetValue(page, out var ids) ? ids.Select(_forward.KvCache.Pool.Data) : null;

    /// <summary>Holds KV read back from disk (one page of bytes per layer) for a scheduler page.</summary>
    public void Restore(int page, Func<int, byte[], bool> fill)
    {
        var pool = _forward.KvCache.Pool;
        var ids = new int[Layers];
        for (int l = 0; l < ids.Length; l++)
        {
            ids[l] = pool.Allocate();
            if (!fill(l, pool.Data(ids[l])))
            {
                for (int k = 0; k <= l; k++)
                    pool.Release(ids[k]);
                throw new InvalidDataException("the saved prefix cache ends early");
            }
        }
        _physical[page] = ids;
    }

    public void Dropped(int page)
    {
        if (_physical.Remove(page, out var ids))
            ReleaseIds(ids);
    }

    public void Release(Sequence s, bool keep)
    {
        if (!_live.Remove(s.Id, out var kv))
            return;
        if (keep)
            ParkTail(s, kv);
        _forward.KvCache.Free(kv);
    }

    public void Dispose()
    {
        _live.Clear();
        _physical.Clear();
        _tails.Clear();
        _forward.Dispose();
    }
}
