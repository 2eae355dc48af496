namespace Fathom.Attention;

/// <summary>The simplest <see cref="IKvCache"/>: one f16 array per layer for keys and one for values, one page.</summary>
public sealed class ContiguousKvCache : IKvCache
{
    private readonly Half[][] _keys;
    private readonly Half[][] _values;

    public ContiguousKvCache(int layers, int capacity, int keyWidth, int valueWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueWidth);
        if ((long)capacity * Math.Max(keyWidth, valueWidth) > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"a contiguous cache of {capacity} positions × {Math.Max(keyWidth, valueWidth)} values per layer is too large");
        LayerCount = layers;
        Capacity = capacity;
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
    public int PageSize => Capacity;

    /// <summary>Bytes held for keys and values of every layer.</summary>
    public long Bytes => 2L * LayerCount * Capacity * (KeyWidth + ValueWidth);

    public void Store(int layer, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        if ((uint)position >= (uint)Capacity)
            throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is outside the cache of {Capacity}");
        var k = _keys[layer].AsSpan(position * KeyWidth, KeyWidth);
        var v = _values[layer].AsSpan(position * ValueWidth, ValueWidth);
        for (int i = 0; i < k.Length; i++)
            k[i] = (Half)key[i];
        for (int i = 0; i < v.Length; i++)
            v[i] = (Half)value[i];
    }

    public ReadOnlySpan<Half> Keys(int layer, int page) => page == 0 ? _keys[layer] : throw new ArgumentOutOfRangeException(nameof(page));

    public ReadOnlySpan<Half> Values(int layer, int page) => page == 0 ? _values[layer] : throw new ArgumentOutOfRangeException(nameof(page));
}
