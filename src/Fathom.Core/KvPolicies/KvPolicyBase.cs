namespace Fathom.KvPolicies;

/// <summary>Defaults shared by the policies: no prefill scores, read every resident position, never evict.</summary>
internal abstract class KvPolicyBase : IKvPolicy
{
    public abstract string Name { get; }
    public abstract string Parameters { get; }
    public virtual int ObservationWindow => 0;
    public virtual bool NeedsPrefillColumnSums => false;
    public virtual bool NeedsDecodeWeights => false;
    public virtual bool BoundsDecodeMemory => false;

    // The default reads (every resident position) and strided's pattern only read the residency; a policy whose choice
    // keeps shared state or reads keys says false.
    public virtual bool SelectsReadsConcurrently => true;
    protected KvPolicyGeometry Geometry { get; private set; } = new(1, 1, 1, 1, 1, 1);

    public virtual void Begin(KvPolicyGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        geometry.Validate();
        Geometry = geometry;
    }

    public virtual void OnPrefillEnd(int layer, int kvHead, int length, ReadOnlySpan<float> columnSums, ReadOnlySpan<float> windowVotes, KvResidency residency)
    {
    }

    public virtual void SelectReads(int layer, int kvHead, int position, ReadOnlySpan<float> queries, IKeyRows keys, KvResidency residency, List<int> reads)
    {
        ArgumentNullException.ThrowIfNull(residency);
        residency.CopyTo(layer, kvHead, reads);
    }

    public virtual void OnDecodeStep(int layer, int kvHead, int position, ReadOnlySpan<int> reads, ReadOnlySpan<float> weights, KvResidency residency)
    {
    }

    protected static void CheckBudget(int budget)
    {
        if (budget < 1)
            throw new ArgumentOutOfRangeException(nameof(budget), $"a KV budget of {budget} tokens must be at least 1");
    }
}
