namespace Fathom.KvPolicies;

/// <summary>
/// <c>h2o</c> (heavy hitters): every position accumulates the attention probability it receives, from all
/// prefill queries and then from every decode query; after each step, while more than <c>budget</c> are
/// resident, the non-recent position with the smallest accumulated score is evicted (ties: the older
/// first). The last <c>recent</c> positions (default half the budget) are never evicted. RoPE: keys keep
/// their rotation and absolute positions (base H2O, not the position-rolling variant). GQA: one token set
/// per KV head, scored by the sum of the probabilities of the group's query heads (Fathom choice).
/// </summary>
internal sealed class H2OPolicy : KvPolicyBase
{
    private float[][] _scores = [];

    public H2OPolicy(int budget, int recent = -1)
    {
        CheckBudget(budget);
        Budget = budget;
        Recent = recent < 0 ? budget / 2 : Math.Min(recent, budget);
    }

    public int Budget { get; }
    public int Recent { get; }
    public override string Name => "h2o";
    public override bool BoundsDecodeMemory => true;
    public override string Parameters => $"budget={Budget} recent={Recent} heavy={Budget - Recent}";
    public override bool NeedsPrefillColumnSums => true;
    public override bool NeedsDecodeWeights => true;

    public override void Begin(KvPolicyGeometry geometry)
    {
        base.Begin(geometry);
        _scores = new float[geometry.Layers * geometry.KvHeads][];
        for (int i = 0; i < _scores.Length; i++)
            _scores[i] = new float[geometry.Context];
    }

    /// <summary>The accumulated score of a position (for tests and reports).</summary>
    public float Score(int layer, int kvHead, int position) => _scores[layer * Geometry.KvHeads + kvHead][position];

    public override void OnPrefillEnd(int layer, int kvHead, int length, ReadOnlySpan<float> columnSums, ReadOnlySpan<float> windowVotes, KvResidency residency)
    {
        var s = _scores[layer * Geometry.KvHeads + kvHead];
        columnSums[..Math.Min(length, columnSums.Length)].CopyTo(s);
        Evict(layer, kvHead, residency, s);
    }

    public override void OnDecodeStep(int layer, int kvHead, int position, ReadOnlySpan<int> reads, ReadOnlySpan<float> weights, KvResidency residency)
    {
        var s = _scores[layer * Geometry.KvHeads + kvHead];
        for (int i = 0; i < reads.Length; i++)
            s[reads[i]] += weights[i];
        Evict(layer, kvHead, residency, s);
    }

    private void Evict(int layer, int kvHead, KvResidency residency, float[] s)
    {
        ArgumentNullException.ThrowIfNull(residency);
        int excess = residency.Count(layer, kvHead) - Budget;
        if (excess <= 0)
            return;
        // Candidates: resident positions older than the recent window, ascending by (score, position).
        int recentStart = residency.Length - Recent;
        var candidates = new List<int>();
        for (int p = residency.NextResident(layer, kvHead, 0); p >= 0 && p < recentStart; p = residency.NextResident(layer, kvHead, p + 1))
            candidates.Add(p);
        candidates.Sort((a, b) => s[a] != s[b] ? s[a].CompareTo(s[b]) : a.CompareTo(b));
        for (int i = 0; i < excess && i < candidates.Count; i++)
        {
            residency.Remove(layer, kvHead, candidates[i]);
            s[candidates[i]] = 0;
        }
    }
}
