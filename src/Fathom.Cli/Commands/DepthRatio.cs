namespace Fathom.Cli.Commands;

/// <summary>
/// How fast a test runs at depth against the same test at depth 0, from interleaved runs (run k of each taken a few
/// seconds apart): the median of the per-pair ratios, their range, and the best run against the best run. On a
/// noisy machine a pair shares its disturbance, so the pair median is the fairer centre; the best-against-best ratio
/// compares the least disturbed run of each.
/// </summary>
internal readonly record struct DepthRatio(double PairMedian, double PairMin, double PairMax, double Best)
{
    /// <summary>Null when there is nothing to pair (no runs, or any run not faster than zero).</summary>
    public static DepthRatio? Of(IReadOnlyList<double> atZero, IReadOnlyList<double> atDepth)
    {
        int n = Math.Min(atZero.Count, atDepth.Count);
        if (n == 0)
            return null;
        var pairs = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (!(atZero[i] > 0) || !(atDepth[i] >= 0))
                return null;
            pairs[i] = atDepth[i] / atZero[i];
        }
        Array.Sort(pairs);
        double median = n % 2 == 1 ? pairs[n / 2] : (pairs[n / 2 - 1] + pairs[n / 2]) / 2;
        return new DepthRatio(median, pairs[0], pairs[^1], atDepth.Take(n).Max() / atZero.Take(n).Max());
    }
}
