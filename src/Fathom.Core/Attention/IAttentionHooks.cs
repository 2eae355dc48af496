using Fathom.KvCache;

namespace Fathom.Attention;

/// <summary>
/// What a KV policy sees of and decides in the tiled attention. Calls for different KV heads and
/// tokens may come concurrently from worker threads.
/// </summary>
public interface IAttentionHooks
{
    /// <summary>
    /// For a decode step (one query token): writes into <paramref name="pages"/> the page indices
    /// (ascending, below <see cref="KvSequence.PageCount"/>) that KV head <paramref name="kvHead"/> of
    /// <paramref name="layer"/> reads, and returns how many; -1 reads every page.
    /// <paramref name="queries"/> holds the group's query heads (Group × KeyLength, rotated, unscaled).
    /// </summary>
    int SelectPages(KvSequence sequence, int layer, int kvHead, ReadOnlySpan<float> queries, Span<int> pages);

    /// <summary>True when the attention weights of the query at <paramref name="position"/> in <paramref name="layer"/> should be reported.</summary>
    bool WantsScores(int layer, int position);

    /// <summary>
    /// The attention weights of the query at <paramref name="position"/> over the slots of
    /// <paramref name="layer"/>: probabilities summed over the query heads of <paramref name="kvHead"/>'s
    /// GQA group (each head's sum to 1, so the span sums to Group). Slots not read (not selected, or
    /// after the query's position) are 0. The span is valid only during the call.
    /// </summary>
    void OnScores(int layer, int kvHead, int position, ReadOnlySpan<float> weights);

    /// <summary>
    /// Slots of <paramref name="layer"/> that <paramref name="kvHead"/> may read in this call: a nonzero byte
    /// per visible slot; slots past the span's end are visible and an empty span shows them all. Lets one KV
    /// head drop positions the other heads of its layer still hold. Called from worker threads.
    /// </summary>
    ReadOnlySpan<byte> SlotMask(int layer, int kvHead) => default;

    /// <summary>True when <see cref="SelectPages"/> may run for several KV heads of a layer at once (on worker threads).</summary>
    bool SelectsConcurrently => false;
}
