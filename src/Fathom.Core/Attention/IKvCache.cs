namespace Fathom.Attention;

/// <summary>
/// Where attention finds each layer's keys and values: f16, rounded from float32 on store as llama.cpp's
/// f16 cache does. A position holds <see cref="KeyWidth"/> / <see cref="ValueWidth"/> values (all
/// <see cref="KvHeads"/> heads). Positions are read a page at a time so that a paged cache can replace
/// the contiguous one behind the same calls; a page is head-major: KV head h's rows of the page are
/// contiguous, <see cref="PageSize"/> of them from h · PageSize · (width / KvHeads).
/// </summary>
public interface IKvCache
{
    /// <summary>Positions the cache can hold.</summary>
    int Capacity { get; }

    int LayerCount { get; }
    int KeyWidth { get; }
    int ValueWidth { get; }

    /// <summary>KV heads per position (the key and value widths are whole multiples of it).</summary>
    int KvHeads { get; }

    /// <summary>Positions per page: the span <see cref="Keys"/> returns covers this many (the last page fewer).</summary>
    int PageSize { get; }

    /// <summary>Stores one position's keys and values for <paramref name="layer"/>, rounding to f16.</summary>
    void Store(int layer, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value);

    /// <summary>Keys of page <paramref name="page"/> (positions page·PageSize onward), head-major.</summary>
    ReadOnlySpan<Half> Keys(int layer, int page);

    /// <summary>Values of page <paramref name="page"/>, head-major.</summary>
    ReadOnlySpan<Half> Values(int layer, int page);
}
