namespace Fathom.KvPolicies;

/// <summary>
/// <c>window</c> (StreamingLLM): the first <c>sinks</c> positions plus the most recent ones, at most
/// <c>budget</c> resident after every step (the step's own token is read before the eviction, as
/// StartRecentKVCache evicts before the next append). No scores. RoPE: unlike the pos-shift patch of the
/// reference, survivors keep the positions they were rotated with and the query keeps its true position
/// (no re-rolling), so relative distances grow with the text (the model must cope with them). GQA:
/// position-based, one set per KV head, identical for all heads.
/// </summary>
internal sealed class WindowPolicy : KvPolicyBase
{
    public WindowPolicy(int budget, int sinks = 4)
    {
        CheckBudget(budget);
        ArgumentOutOfRangeException.ThrowIfNegative(sinks);
        Budget = budget;
        Sinks = Math.Min(sinks, budget);
    }

    public int Budget { get; }
    public int Sinks { get; }
    public override string Name => "window";
    public override bool BoundsDecodeMemory => true;
    public override string Parameters => $"budget={Budget} sinks={Sinks}";

    public override void OnPrefillEnd(int layer, int kvHead, int length, ReadOnlySpan<float> columnSums, ReadOnlySpan<float> windowVotes, KvResidency residency) =>
        Evict(layer, kvHead, residency);

    public override void OnDecodeStep(int layer, int kvHead, int position, ReadOnlySpan<int> reads, ReadOnlySpan<float> weights, KvResidency residency) =>
        Evict(layer, kvHead, residency);

    // Keeps [0, sinks) ∪ the last (budget − sinks) positions: evicts the oldest non-sink positions first.
    private void Evict(int layer, int kvHead, KvResidency residency)
    {
        ArgumentNullException.ThrowIfNull(residency);
        // Resident positions only: after the first eviction most of a long context is gone, and it is not walked again.
        for (int p = residency.NextResident(layer, kvHead, Sinks); p >= 0 && residency.Count(layer, kvHead) > Budget;
             p = residency.NextResident(layer, kvHead, p + 1))
            residency.Remove(layer, kvHead, p);
    }
}
