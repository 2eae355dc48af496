namespace Fathom.KvPolicies;

/// <summary>
/// <c>strided</c> (local + strided global, the Sparse Transformer pattern applied training-free): keeps all
/// KV; each decode step reads the first <c>sinks</c> positions, the last <c>local</c> positions (default
/// half the budget) and every position p with p mod s = 0 before them, s chosen per step so that the
/// reads fit the budget (or fixed with <c>stride=</c>). Absolute-position stride, so the global sample
/// does not move from step to step. RoPE: keys keep their positions. GQA: position-based, the same reads
/// for every head.
/// </summary>
internal sealed class StridedPolicy : KvPolicyBase
{
    public StridedPolicy(int budget, int sinks = 4, int local = -1, int stride = 0)
    {
        CheckBudget(budget);
        ArgumentOutOfRangeException.ThrowIfNegative(sinks);
        ArgumentOutOfRangeException.ThrowIfNegative(stride);
        Budget = budget;
        Sinks = Math.Min(sinks, budget);
        Local = local < 0 ? Math.Max(1, budget / 2) : Math.Min(local, budget);
        Stride = stride;
    }

    public int Budget { get; }
    public int Sinks { get; }
    public int Local { get; }
    public int Stride { get; }
    public override string Name => "strided";
    public override string Parameters => $"budget={Budget} sinks={Sinks} local={Local} stride={(Stride == 0 ? "auto" : Stride)}";

    /// <summary>The stride used when the sequence is <paramref name="length"/> long.</summary>
    public int StrideFor(int length)
    {
        if (Stride > 0)
            return Stride;
        int middle = length - Local - Sinks, slots = Budget - Local - Sinks;
        return middle <= 0 ? 1 : slots <= 0 ? int.MaxValue : Math.Max(1, (middle + slots - 1) / slots);
    }

    public override void SelectReads(int layer, int kvHead, int position, ReadOnlySpan<float> queries, IKeyRows keys, KvResidency residency, List<int> reads)
    {
        ArgumentNullException.ThrowIfNull(residency);
        ArgumentNullException.ThrowIfNull(reads);
        int n = residency.Length, localStart = Math.Max(0, n - Local);
        if (n <= Budget)
        {
            residency.CopyTo(layer, kvHead, reads);
            return;
        }
        int s = StrideFor(n);
        // Only the positions the pattern takes are visited (sinks, the stride's multiples, the local window), ascending.
        for (int p = 0; p < n;)
        {
            bool take = p < Sinks || p >= localStart || (s != int.MaxValue && p % s == 0);
            if (take && residency.Contains(layer, kvHead, p))
                reads.Add(p);
            int next = p + 1;
            if (next >= Sinks && next < localStart)
                next = (int)Math.Min(localStart, s == int.MaxValue ? long.MaxValue : (next + (long)s - 1) / s * s);
            p = next;
        }
    }
}
