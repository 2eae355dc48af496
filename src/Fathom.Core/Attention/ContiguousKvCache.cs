namespace Fathom.Attention;

/// <summary>
/// The simplest <see cref="IKvCache"/>: one f16 array per layer for keys and one for values, one page (so head-major:
/// each KV head's keys for every position, then the next head's).
/// </summary>
public sealed class ContiguousKvCache : IKvCache
{
    private readonly Half[][] _keys;
    private readonly Half[][] _values;

    public ContiguousKvCache(int layers, int capacity, int kvHeads, int keyWidth, int valueWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueWidth);
        if (keyWidth % kvHeads != 0 || valueWidth % kvHeads != 0)
            throw new ArgumentException($"key and value widths ({keyWidth}, {valueWidth}) must be multiples of the {kvHeads} KV heads");
        if ((long)capacity * Math.Max(keyWidth, valueWidth) > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"a contiguous cache of {capacity} positions × {Math.Max(keyWidth, valueWidth)} values per layer is too large");
        LayerCount = layers;
        Capacity = capacity;
        KvHeads = kvHeads;
        KeyWidth = keyWidth;
        ValueWidth = valueWidth;
        _keys = new Half[layers][];
        _values = new Half[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new Half[(long)capacity * keyWidth];
            _values[l] = new Half[(long)capacity * valueWidth];
        }
    }

    public int Capacity { get; }
    public int LayerCount { get; }
    public int KeyWidth { get; }
    public int ValueWidth { get; }
    public int KvHeads { get; }
    public int PageSize => Capacity;

    /// <summary>Bytes held for keys and values of every layer.</summary>
    public long Bytes => 2L * LayerCount * Capacity * (KeyWidth + ValueWidth);

    public void Store(int layer, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        if ((uint)position >= (uint)Capacity)
            throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is outside the cache of {Capacity}");
        int dk = KeyWidth / KvHeads, dv = ValueWidth / KvHeads;
        for (int h = 0; h < KvHeads; h++)
        {
            var k = _keys[layer].AsSpan((h * Capacity + position) * dk, dk);
            var v = _values[layer].AsSpan((h * Capacity + position) * dv, dv);
            for (int i = 0; i < dk; i++)
                k[i] = (Half)key[h * dk + i];
            for (int i = 0; i < dv; i++)
                v[i] = (Half)value[h * dv + i];
        }
    }

    public ReadOnlySpan<Half> Keys(int layer, int page) => page == 0 ? _keys[layer] : throw new ArgumentOutOfRangeException(nameof(page));

    public ReadOnlySpan<Half> Values(int layer, int page) => page == 0 ? _values[layer] : throw new ArgumentOutOfRangeException(nameof(page));
}
