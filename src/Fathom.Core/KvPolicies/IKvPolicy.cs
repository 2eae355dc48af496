namespace Fathom.KvPolicies;

/// <summary>The shape a policy works over: one sequence of up to <see cref="Context"/> positions.</summary>
public sealed record KvPolicyGeometry(int Layers, int KvHeads, int Group, int KeyLength, int ValueLength, int Context, int PageSize = 16)
{
    /// <summary>Throws on a shape no cache could hold.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(KvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Group);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(KeyLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ValueLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PageSize);
    }
}

/// <summary>Reads a stored (rotated, dequantized) key row of one KV head.</summary>
public interface IKeyRows
{
    ReadOnlySpan<float> Key(int layer, int kvHead, int position);
}

/// <summary>
/// A KV cache policy: decides, per layer and KV head, which positions stay resident (eviction policies)
/// and which resident positions a decode step reads (selection policies). Every policy sees scores
/// already summed over the query heads of a GQA group and decides one set per KV head, so a page is
/// read once for the whole group. Positions are never renumbered: a kept key keeps the RoPE rotation of
/// the position it was written at and the query is rotated with its true position (no position
/// re-rolling), so evicting only removes terms from the softmax.
/// Call order per sequence: <see cref="Begin"/>, the prefill's positions added to the residency,
/// <see cref="OnPrefillEnd"/> per layer and head, then per decode step and layer and head: the new
/// position added, <see cref="SelectReads"/>, attention over the reads, <see cref="OnDecodeStep"/>.
/// </summary>
public interface IKvPolicy
{
    /// <summary>Registry name (<c>full</c>, <c>window</c>, …).</summary>
    string Name { get; }

    /// <summary>Parameters as <c>key=value</c> pairs, for reports.</summary>
    string Parameters { get; }

    /// <summary>Last prefill queries whose attention <see cref="OnPrefillEnd"/> needs as window votes (0: none).</summary>
    int ObservationWindow { get; }

    /// <summary>True when <see cref="OnPrefillEnd"/> needs the column sums of the whole prefill attention.</summary>
    bool NeedsPrefillColumnSums { get; }

    /// <summary>True when <see cref="OnDecodeStep"/> uses the weights (computing them costs a second pass over the keys read).</summary>
    bool NeedsDecodeWeights => true;

    /// <summary>True when the policy evicts down to its budget after every decode step, so a sequence can run past the cache's capacity.</summary>
    bool BoundsDecodeMemory => false;

    /// <summary>
    /// True when <see cref="SelectReads"/> may run for several KV heads of a layer at once (on worker threads): it only
    /// reads the residency and its own per-head state, and does not read keys through <see cref="IKeyRows"/>.
    /// </summary>
    bool SelectsReadsConcurrently => false;

    /// <summary>Drops all state and prepares for a sequence of this shape.</summary>
    void Begin(KvPolicyGeometry geometry);

    /// <summary>
    /// The prefill of <paramref name="length"/> positions ended (all resident). <paramref name="columnSums"/>[j]:
    /// attention probability on key j summed over every prefill query and the group's heads (empty unless
    /// <see cref="NeedsPrefillColumnSums"/>); <paramref name="windowVotes"/>[j]: the same over the last
    /// <see cref="ObservationWindow"/> queries only (empty when that is 0). May evict.
    /// </summary>
    void OnPrefillEnd(int layer, int kvHead, int length, ReadOnlySpan<float> columnSums, ReadOnlySpan<float> windowVotes, KvResidency residency);

    /// <summary>
    /// Fills <paramref name="reads"/> (cleared by the caller) with the ascending resident positions the query at
    /// <paramref name="position"/> attends to. <paramref name="queries"/>: the group's query heads (Group × KeyLength, rotated).
    /// </summary>
    void SelectReads(int layer, int kvHead, int position, ReadOnlySpan<float> queries, IKeyRows keys, KvResidency residency, List<int> reads);

    /// <summary>After attention: <paramref name="weights"/>[i] is the probability on reads[i] summed over the group's heads. May evict.</summary>
    void OnDecodeStep(int layer, int kvHead, int position, ReadOnlySpan<int> reads, ReadOnlySpan<float> weights, KvResidency residency);
}
