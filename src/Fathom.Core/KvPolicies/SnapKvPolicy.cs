namespace Fathom.KvPolicies;

/// <summary>
/// <c>snapkv</c>: once, when prefill ends, the last <c>window</c> prefill queries vote with their attention
/// probabilities on the older keys; the votes are smoothed by a 1-D pooling (avg or max, kernel
/// <c>kernel</c>, stride 1, padding kernel/2, avg counting the padding as torch's avg_pool1d does) and each
/// KV head keeps the top (budget − window) older positions plus the window itself (ties: the older
/// first). Decode then appends without further eviction. With <c>pyramid</c> the per-layer budgets follow
/// PyramidKV (larger in low layers, same mean, <c>beta</c>). RoPE: kept keys keep their rotation and the
/// decode continues at the true absolute position. GQA: probabilities of the group's query heads are
/// summed before pooling, one index set per KV head (Fathom choice).
/// </summary>
internal sealed class SnapKvPolicy : KvPolicyBase
{
    public SnapKvPolicy(int budget, int window = 32, int kernel = 5, bool maxPool = false, bool pyramid = false, int beta = 20)
    {
        CheckBudget(budget);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(beta);
        Budget = budget;
        Window = Math.Min(window, budget);
        Kernel = kernel;
        MaxPool = maxPool;
        Pyramid = pyramid;
        Beta = beta;
    }

    public int Budget { get; }
    public int Window { get; }
    public int Kernel { get; }
    public bool MaxPool { get; }
    public bool Pyramid { get; }
    public int Beta { get; }
    public override string Name => Pyramid ? "pyramidkv" : "snapkv";
    public override string Parameters => $"budget={Budget} window={Window} kernel={Kernel} pool={(MaxPool ? "max" : "avg")}" + (Pyramid ? $" beta={Beta}" : "");
    public override int ObservationWindow => Window;

    /// <summary>Older positions layer <paramref name="layer"/> keeps for a prompt of <paramref name="length"/> (the window comes on top).</summary>
    public int PrefixBudget(int layer, int length)
    {
        int c = Budget, w = Window, layers = Geometry.Layers;
        if (!Pyramid || layers < 2 || length < 2 * (c - w))
            return c - w;
        // PyramidKV's integer schedule: min_num = (C − w)/β, max_num = 2(C − w) − min_num, clipped to n − w.
        int minNum = (c - w) / Beta, maxNum = 2 * (c - w) - minNum;
        if (maxNum >= length - w)
        {
            maxNum = length - w;
            minNum = 2 * (c - w) - maxNum;
        }
        int step = (maxNum - minNum) / (layers - 1);
        return maxNum - layer * step;
    }

    public override void OnPrefillEnd(int layer, int kvHead, int length, ReadOnlySpan<float> columnSums, ReadOnlySpan<float> windowVotes, KvResidency residency)
    {
        ArgumentNullException.ThrowIfNull(residency);
        if (length <= Budget)
            return;
        int prefix = length - Window, keep = Math.Clamp(PrefixBudget(layer, length), 0, prefix);
        var pooled = Pool(windowVotes[..prefix]);
        var order = new int[prefix];
        for (int i = 0; i < prefix; i++)
            order[i] = i;
        Array.Sort(order, (a, b) => pooled[a] != pooled[b] ? pooled[b].CompareTo(pooled[a]) : a.CompareTo(b));
        for (int i = keep; i < prefix; i++)
        {
            if (residency.Contains(layer, kvHead, order[i]))
                residency.Remove(layer, kvHead, order[i]);
        }
    }

    /// <summary>The pooled votes (stride 1, padding kernel/2; avg divides by the kernel, padding counted).</summary>
    public float[] Pool(ReadOnlySpan<float> votes)
    {
        int n = votes.Length, pad = Kernel / 2;
        var result = new float[n];
        for (int i = 0; i < n; i++)
        {
            float acc = MaxPool ? float.NegativeInfinity : 0f;
            for (int j = i - pad; j < i - pad + Kernel; j++)
            {
                // Positions past the prefix are padding: zero for avg; skipped for max (torch pads max with −inf).
                float v = (uint)j < (uint)n ? votes[j] : MaxPool ? float.NegativeInfinity : 0f;
                acc = MaxPool ? Math.Max(acc, v) : acc + v;
            }
            result[i] = MaxPool ? acc : acc / Kernel;
        }
        return result;
    }
}
