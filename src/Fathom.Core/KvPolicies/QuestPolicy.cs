namespace Fathom.KvPolicies;

/// <summary>
/// <c>quest</c>: keeps all KV. Per page of <c>page</c> positions and KV head it keeps the channel-wise min
/// and max of the page's keys; each decode step scores every page by the upper bound
/// U = Σ_i max(q_i·max_i, q_i·min_i) of q·k and reads only the top max(3, ⌈budget/page⌉) pages (the sink page
/// and the newest page always among them). The first <c>dense</c> layers (2 in the reference) read
/// everything. RoPE: bounds are over the rotated keys at their written positions; nothing is evicted, so
/// nothing is ever re-rotated. GQA: a page's score is the sum of the group's query heads' upper bounds, so
/// the group reads one page set (Fathom choice).
/// </summary>
internal sealed class QuestPolicy : KvPolicyBase
{
    private float[][] _min = [], _max = [];
    private int[] _folded = [];
    private float[] _pageScores = [];
    private int[] _order = [];

    public QuestPolicy(int budget, int page = 16, int dense = 2)
    {
        CheckBudget(budget);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(page);
        ArgumentOutOfRangeException.ThrowIfNegative(dense);
        Budget = budget;
        Page = page;
        Dense = dense;
    }

    public int Budget { get; }
    public int Page { get; }
    public int Dense { get; }
    public override string Name => "quest";
    public override string Parameters => $"budget={Budget} page={Page} dense-layers={Dense}";

    /// <summary>Pages a step reads in a sparse layer.</summary>
    public int PagesPerStep => Math.Max(3, (Budget + Page - 1) / Page);

    public override void Begin(KvPolicyGeometry geometry)
    {
        base.Begin(geometry);
        int heads = geometry.Layers * geometry.KvHeads, pages = (geometry.Context + Page - 1) / Page;
        _min = new float[heads][];
        _max = new float[heads][];
        for (int i = 0; i < heads; i++)
        {
            _min[i] = new float[pages * geometry.KeyLength];
            _max[i] = new float[pages * geometry.KeyLength];
        }
        _folded = new int[heads];
        _pageScores = new float[pages];
        _order = new int[pages];
    }

    public override void SelectReads(int layer, int kvHead, int position, ReadOnlySpan<float> queries, IKeyRows keys, KvResidency residency, List<int> reads)
    {
        ArgumentNullException.ThrowIfNull(residency);
        ArgumentNullException.ThrowIfNull(reads);
        ArgumentNullException.ThrowIfNull(keys);
        int n = residency.Length, pages = (n + Page - 1) / Page;
        if (layer < Dense || pages <= PagesPerStep)
        {
            residency.CopyTo(layer, kvHead, reads);
            return;
        }
        int hi = layer * Geometry.KvHeads + kvHead, d = Geometry.KeyLength;
        Fold(layer, kvHead, hi, n, keys);
        var mins = _min[hi];
        var maxs = _max[hi];
        for (int pg = 0; pg < pages; pg++)
        {
            float u = 0;
            for (int h = 0; h < Geometry.Group; h++)
            {
                var q = queries.Slice(h * d, d);
                for (int i = 0; i < d; i++)
                    u += Math.Max(q[i] * maxs[pg * d + i], q[i] * mins[pg * d + i]);
            }
            _pageScores[pg] = u;
            _order[pg] = pg;
        }
        // The sink page and the newest page first, then the rest by descending bound (ties: the older).
        _pageScores[0] = float.PositiveInfinity;
        _pageScores[pages - 1] = float.PositiveInfinity;
        var scores = _pageScores;
        Array.Sort(_order, 0, pages, Comparer<int>.Create((a, b) => scores[a] != scores[b] ? scores[b].CompareTo(scores[a]) : a.CompareTo(b)));
        Array.Sort(_order, 0, PagesPerStep);
        for (int k = 0; k < PagesPerStep; k++)
        {
            int pg = _order[k];
            for (int p = pg * Page; p < Math.Min(n, (pg + 1) * Page); p++)
            {
                if (residency.Contains(layer, kvHead, p))
                    reads.Add(p);
            }
        }
    }

    /// <summary>The page bounds a step would read: (pages scored, pages read) at length n in a sparse layer.</summary>
    public (int Scored, int Read) PagesAt(int layer, int length)
    {
        int pages = (length + Page - 1) / Page;
        return layer < Dense || pages <= PagesPerStep ? (0, pages) : (pages, PagesPerStep);
    }

    // Folds keys not yet in the bounds (incrementally, as the last page fills).
    private void Fold(int layer, int kvHead, int hi, int n, IKeyRows keys)
    {
        int d = Geometry.KeyLength;
        var mins = _min[hi];
        var maxs = _max[hi];
        for (int p = _folded[hi]; p < n; p++)
        {
            var k = keys.Key(layer, kvHead, p);
            int b = p / Page * d;
            bool first = p % Page == 0;
            for (int i = 0; i < d; i++)
            {
                mins[b + i] = first ? k[i] : Math.Min(mins[b + i], k[i]);
                maxs[b + i] = first ? k[i] : Math.Max(maxs[b + i], k[i]);
            }
        }
        _folded[hi] = n;
    }
}
