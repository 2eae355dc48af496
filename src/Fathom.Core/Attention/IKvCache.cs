namespace Fathom.Attention;

/// <summary>
/// Where attention finds each layer's keys and values. Entries are f16 rows of
/// <see cref="KeyWidth"/> / <see cref="ValueWidth"/> values (all key/value heads of one position),
/// rounded from float32 on store as llama.cpp's f16 cache does. Positions are read a page at a
/// time so that a paged cache can replace the contiguous one behind the same calls.
/// </summary>
public interface IKvCache
{
    /// <summary>Positions the cache can hold.</summary>
    int Capacity { get; }

    int LayerCount { get; }
    int KeyWidth { get; }
    int ValueWidth { get; }

    /// <summary>Positions per page: the span <see cref="Keys"/> returns covers this many (the last page fewer).</summary>
    int PageSize { get; }

    /// <summary>Stores one position's keys and values for <paramref name="layer"/>, rounding to f16.</summary>
    void Store(int layer, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value);

    /// <summary>Key rows of page <paramref name="page"/> (positions page·PageSize onward), row-major.</summary>
    ReadOnlySpan<Half> Keys(int layer, int page);

    /// <summary>Value rows of page <paramref name="page"/>, row-major.</summary>
    ReadOnlySpan<Half> Values(int layer, int page);
}
