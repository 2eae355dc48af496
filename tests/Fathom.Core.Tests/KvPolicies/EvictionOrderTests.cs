using Fathom.KvPolicies;

namespace Fathom.Tests.KvPolicies;

/// <summary>Hand-built attention patterns: each policy keeps and reads exactly what its specification says.</summary>
public class EvictionOrderTests
{
    private static readonly KvPolicyGeometry G = new(Layers: 2, KvHeads: 1, Group: 2, KeyLength: 4, ValueLength: 4, Context: 64, PageSize: 4);

    private static KvResidency Prefilled(int length)
    {
        var r = new KvResidency(G);
        for (int p = 0; p < length; p++)
            r.AddPosition(p);
        return r;
    }

    private static int[] Resident(KvResidency r, int layer = 0)
    {
        var list = new List<int>();
        r.CopyTo(layer, 0, list);
        return [.. list];
    }

    [Fact]
    public void Window_keeps_the_sinks_and_the_most_recent_positions()
    {
        var policy = new WindowPolicy(budget: 6, sinks: 2);
        policy.Begin(G);
        var r = Prefilled(10);
        policy.OnPrefillEnd(0, 0, 10, [], [], r);
        Assert.Equal([0, 1, 6, 7, 8, 9], Resident(r));
        r.Add(0, 0, 10);
        policy.OnDecodeStep(0, 0, 10, [0, 1, 6, 7, 8, 9, 10], new float[7], r);
        Assert.Equal([0, 1, 7, 8, 9, 10], Resident(r));
    }

    [Fact]
    public void H2O_keeps_the_heaviest_older_positions_plus_the_recent_window_and_evicts_the_lightest_next()
    {
        var policy = new H2OPolicy(budget: 4, recent: 2);
        policy.Begin(G);
        var r = Prefilled(6);
        policy.OnPrefillEnd(0, 0, 6, [5f, 1f, 3f, 0.5f, 2f, 2f], [], r);
        Assert.Equal([0, 2, 4, 5], Resident(r));

        // Step at 6: position 4 leaves the recent window; it gets 0.5 more (2.5) and position 2 none (3): 4 is lightest.
        r.Add(0, 0, 6);
        policy.OnDecodeStep(0, 0, 6, [0, 2, 4, 5, 6], [1f, 0f, 0.5f, 0.2f, 0.3f], r);
        Assert.Equal([0, 2, 5, 6], Resident(r));
        Assert.Equal(6f, policy.Score(0, 0, 0));

        // Ties break toward the older position.
        var t = new H2OPolicy(budget: 3, recent: 1);
        t.Begin(G);
        var r2 = Prefilled(5);
        t.OnPrefillEnd(0, 0, 5, [1f, 1f, 1f, 1f, 9f], [], r2);
        Assert.Equal([2, 3, 4], Resident(r2));
    }

    [Fact]
    public void SnapKv_keeps_the_top_pooled_votes_plus_the_observation_window()
    {
        // kernel 1: no smoothing. Budget 4 = window 2 + the top 2 of positions 0..5.
        var policy = new SnapKvPolicy(budget: 4, window: 2, kernel: 1);
        policy.Begin(G);
        var r = Prefilled(8);
        policy.OnPrefillEnd(0, 0, 8, [], [0.1f, 0.9f, 0.2f, 0.05f, 0.8f, 0.3f, 1f, 1f], r);
        Assert.Equal([1, 4, 6, 7], Resident(r));

        // Avg pooling (kernel 3, padding counted) spreads a spike to its neighbours: a cluster beats a lone peak.
        var pooled = new SnapKvPolicy(budget: 4, window: 1, kernel: 3);
        Assert.Equal([1f / 3, 1f / 3, 1f / 3, 0f], pooled.Pool([0f, 1f, 0f, 0f]));
        var max = new SnapKvPolicy(budget: 4, window: 1, kernel: 3, maxPool: true);
        Assert.Equal([1f, 1f, 1f, 0f], max.Pool([0f, 1f, 0f, 0f]));

        // Decode appends without evicting.
        r.Add(0, 0, 8);
        policy.OnDecodeStep(0, 0, 8, [1, 4, 6, 7, 8], new float[5], r);
        Assert.Equal(5, r.Count(0, 0));
    }

    [Fact]
    public void PyramidKv_budgets_decrease_with_depth_and_keep_the_mean()
    {
        var g = G with { Layers = 4 };
        var policy = new SnapKvPolicy(budget: 20, window: 4, pyramid: true, beta: 20);
        policy.Begin(g);
        int[] budgets = [.. Enumerable.Range(0, 4).Select(l => policy.PrefixBudget(l, 100))];
        Assert.Equal([32, 22, 12, 2], budgets);
        // A prompt shorter than 2(C − w) falls back to the uniform SnapKV budget.
        Assert.Equal(16, policy.PrefixBudget(0, 30));
    }

    [Fact]
    public void Quest_reads_the_sink_page_the_newest_page_and_the_page_with_the_highest_upper_bound()
    {
        var keys = new ArrayKeys(G, 40);
        keys.Set(0, 21, [5f, 0f, 0f, 0f]);     // page 5 (positions 20..23) holds a key aligned with the query
        var policy = new QuestPolicy(budget: 12, page: 4, dense: 1);
        policy.Begin(G);
        var r = Prefilled(40);
        float[] q = [1f, 0f, 0f, 0f, 1f, 0f, 0f, 0f];
        var reads = new List<int>();
        policy.SelectReads(1, 0, 39, q, keys, r, reads);
        Assert.Equal([0, 1, 2, 3, 20, 21, 22, 23, 36, 37, 38, 39], reads);

        // The dense first layer reads everything.
        reads.Clear();
        policy.SelectReads(0, 0, 39, q, keys, r, reads);
        Assert.Equal(40, reads.Count);
        Assert.Equal(40, r.Count(1, 0));
    }

    [Fact]
    public void Strided_reads_sinks_every_sth_position_and_the_local_window()
    {
        var policy = new StridedPolicy(budget: 12, sinks: 2, local: 4, stride: 5);
        policy.Begin(G);
        var r = Prefilled(30);
        var reads = new List<int>();
        policy.SelectReads(0, 0, 29, [], new ArrayKeys(G, 30), r, reads);
        Assert.Equal([0, 1, 5, 10, 15, 20, 25, 26, 27, 28, 29], reads);
        Assert.Equal(1, new StridedPolicy(budget: 12, sinks: 2, local: 4).StrideFor(8));
        Assert.Equal(4, new StridedPolicy(budget: 12, sinks: 2, local: 4).StrideFor(30));
    }

    private sealed class ArrayKeys(KvPolicyGeometry g, int length) : IKeyRows
    {
        private readonly float[] _k = new float[g.Layers * length * g.KvHeads * g.KeyLength];

        public void Set(int kvHead, int position, float[] key)
        {
            for (int l = 0; l < g.Layers; l++)
                key.CopyTo(_k.AsSpan(((l * length + position) * g.KvHeads + kvHead) * g.KeyLength));
        }

        public ReadOnlySpan<float> Key(int layer, int kvHead, int position) =>
            _k.AsSpan(((layer * length + position) * g.KvHeads + kvHead) * g.KeyLength, g.KeyLength);
    }
}
