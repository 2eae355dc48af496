namespace Fathom.KvPolicies;

/// <summary>
/// Which positions of one sequence are resident, per layer and KV head, with the page accounting a paged
/// cache would do: a page (<see cref="KvPolicyGeometry.PageSize"/> positions of one layer) is held while
/// any head of that layer keeps a position in it, and returns to the pool when the last one is evicted.
/// Each head's positions are a bit set, walked a 64-bit word at a time: after a window or H2O has evicted most of a
/// 65536-position context, listing or scanning a head costs its resident positions plus a word per 64 positions, not a
/// call per position ever written.
/// </summary>
public sealed class KvResidency
{
    private readonly KvPolicyGeometry _g;
    private readonly ulong[][] _resident;
    private readonly int[] _count;
    private readonly int[][] _pageRefs;
    private readonly int[] _pagesHeld;

    public KvResidency(KvPolicyGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        geometry.Validate();
        _g = geometry;
        _resident = new ulong[geometry.Layers * geometry.KvHeads][];
        for (int i = 0; i < _resident.Length; i++)
            _resident[i] = new ulong[(geometry.Context + 63) / 64];
        _count = new int[_resident.Length];
        int pages = (geometry.Context + geometry.PageSize - 1) / geometry.PageSize;
        _pageRefs = new int[geometry.Layers][];
        for (int l = 0; l < geometry.Layers; l++)
            _pageRefs[l] = new int[pages];
        _pagesHeld = new int[geometry.Layers];
    }

    public KvPolicyGeometry Geometry => _g;

    /// <summary>One past the highest position ever added (the sequence length).</summary>
    public int Length { get; private set; }

    /// <summary>Resident positions of one layer's KV head.</summary>
    public int Count(int layer, int kvHead) => _count[Index(layer, kvHead)];

    /// <summary>Resident (layer, head, position) entries in all.</summary>
    public long Entries
    {
        get
        {
            long n = 0;
            foreach (int c in _count)
                n += c;
            return n;
        }
    }

    /// <summary>Pages held by <paramref name="layer"/>.</summary>
    public int PagesHeld(int layer) => _pagesHeld[layer];

    /// <summary>Pages held by every layer together.</summary>
    public int TotalPagesHeld => _pagesHeld.Sum();

    public bool Contains(int layer, int kvHead, int position) =>
        (uint)position < (uint)_g.Context && (_resident[Index(layer, kvHead)][position >> 6] & (1UL << position)) != 0;

    /// <summary>The lowest resident position of one head at or after <paramref name="from"/>, or -1 when there is none.</summary>
    public int NextResident(int layer, int kvHead, int from)
    {
        var r = _resident[Index(layer, kvHead)];
        if (from < 0)
            from = 0;
        if (from >= Length)
            return -1;
        int w = from >> 6;
        ulong bits = r[w] & (ulong.MaxValue << from);
        int last = (Length - 1) >> 6;
        while (bits == 0)
        {
            if (++w > last)
                return -1;
            bits = r[w];
        }
        int p = (w << 6) + System.Numerics.BitOperations.TrailingZeroCount(bits);
        return p < Length ? p : -1;
    }

    /// <summary>Makes <paramref name="position"/> resident for every layer and head (a token's KV was written).</summary>
    public void AddPosition(int position)
    {
        for (int l = 0; l < _g.Layers; l++)
        {
            for (int h = 0; h < _g.KvHeads; h++)
                Add(l, h, position);
        }
    }

    public void Add(int layer, int kvHead, int position)
    {
        if ((uint)position >= (uint)_g.Context)
            throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is outside the context of {_g.Context}");
        int i = Index(layer, kvHead);
        ulong bit = 1UL << position;
        if ((_resident[i][position >> 6] & bit) != 0)
            return;
        _resident[i][position >> 6] |= bit;
        _count[i]++;
        if (_pageRefs[layer][position / _g.PageSize]++ == 0)
            _pagesHeld[layer]++;
        Length = Math.Max(Length, position + 1);
    }

    /// <summary>Evicts one position of one head; evicting a non-resident position is an error (it would hide a policy bug).</summary>
    public void Remove(int layer, int kvHead, int position)
    {
        int i = Index(layer, kvHead);
        if (!Contains(layer, kvHead, position))
            throw new InvalidOperationException($"position {position} of layer {layer} head {kvHead} is not resident");
        _resident[i][position >> 6] &= ~(1UL << position);
        _count[i]--;
        if (--_pageRefs[layer][position / _g.PageSize] == 0)
            _pagesHeld[layer]--;
    }

    /// <summary>Appends the resident positions of one head, ascending.</summary>
    public void CopyTo(int layer, int kvHead, List<int> positions)
    {
        ArgumentNullException.ThrowIfNull(positions);
        var r = _resident[Index(layer, kvHead)];
        for (int w = 0; w << 6 < Length; w++)
        {
            for (ulong bits = r[w]; bits != 0; bits &= bits - 1)
                positions.Add((w << 6) + System.Numerics.BitOperations.TrailingZeroCount(bits));
        }
    }

    /// <summary>Forgets every position at or after <paramref name="position"/> (the sequence is re-run from there).</summary>
    public void TruncateFrom(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        for (int l = 0; l < _g.Layers; l++)
        {
            for (int h = 0; h < _g.KvHeads; h++)
            {
                for (int p = NextResident(l, h, position); p >= 0; p = NextResident(l, h, p + 1))
                    Remove(l, h, p);
            }
        }
        Length = Math.Min(Length, position);
    }

    /// <summary>Evicts everything; every page returns.</summary>
    public void Clear()
    {
        foreach (var r in _resident)
            Array.Clear(r);
        Array.Clear(_count);
        foreach (var p in _pageRefs)
            Array.Clear(p);
        Array.Clear(_pagesHeld);
        Length = 0;
    }

    private int Index(int layer, int kvHead)
    {
        if ((uint)layer >= (uint)_g.Layers || (uint)kvHead >= (uint)_g.KvHeads)
            throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} / KV head {kvHead} is outside {_g.Layers} × {_g.KvHeads}");
        return layer * _g.KvHeads + kvHead;
    }
}
