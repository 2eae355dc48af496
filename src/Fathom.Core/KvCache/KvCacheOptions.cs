namespace Fathom.KvCache;

/// <summary>Geometry and storage of a <see cref="KvCacheManager"/>'s pages.</summary>
public sealed record KvCacheOptions
{
    public required int Layers { get; init; }
    public required int KvHeads { get; init; }

    /// <summary>Elements per key head (head_dim of K).</summary>
    public required int KeyLength { get; init; }

    /// <summary>Elements per value head.</summary>
    public required int ValueLength { get; init; }

    /// <summary>Token slots per page.</summary>
    public int PageSize { get; init; } = 64;

    public KvType KeyType { get; init; } = KvType.F16;
    public KvType ValueType { get; init; } = KvType.F16;

    /// <summary>Pages that may exist at once, all sequences together (0: unbounded).</summary>
    public long MaxPages { get; init; }

    /// <summary>KV bytes kept in memory; pages past it spill to disk (0: everything in memory).</summary>
    public long RamBytes { get; init; }

    /// <summary>Directory of the spill file (default $FATHOM_CACHE_DIR or ~/.cache/fathom).</summary>
    public string? SpillDirectory { get; init; }

    /// <summary>Keep per-page, per-channel min and max of the keys (quest's bounds; 2 floats per key channel per page).</summary>
    public bool TrackKeyBounds { get; init; }

    public int KeyWidth => KvHeads * KeyLength;
    public int ValueWidth => KvHeads * ValueLength;
    public int KeyRowBytes => KvTypes.RowBytes(KeyType, KeyWidth);
    public int ValueRowBytes => KvTypes.RowBytes(ValueType, ValueWidth);

    /// <summary>Bytes of one page: PageSize key rows then PageSize value rows of one layer.</summary>
    public int PageBytes => PageSize * (KeyRowBytes + ValueRowBytes);

    /// <summary>KV bytes per token over all layers: layers × (K row + V row), block scales included.</summary>
    public long BytesPerToken => (long)Layers * (KeyRowBytes + ValueRowBytes);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(KvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(KeyLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ValueLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PageSize);
        KvTypes.Validate(KeyType, KeyLength, "key");
        KvTypes.Validate(ValueType, ValueLength, "value");
        if ((long)PageSize * (KeyRowBytes + ValueRowBytes) > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(PageSize), $"a page of {PageSize} positions is too large");
    }
}
