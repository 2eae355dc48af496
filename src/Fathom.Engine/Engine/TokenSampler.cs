namespace Fathom.Engine;

/// <summary>
/// Picks each next token of one sequence: penalties over its output, then greedy or
/// temperature → top-k → top-p → min-p with a seeded RNG. A stand-in until the Sampling chain lands.
/// </summary>
internal sealed class TokenSampler
{
    private readonly SamplingOptions _o;
    private readonly Random _rng;
    private readonly Dictionary<int, int> _counts = [];
    private float[] _work = [];
    private int[] _order = [];

    public TokenSampler(SamplingOptions options)
    {
        _o = options;
        _rng = options.Seed is long seed ? new Random(unchecked((int)(seed ^ (seed >> 32)))) : new Random();
    }

    public int Sample(ReadOnlySpan<float> logits, int topLogprobs, out TokenLogprob? logprob, bool wantLogprob)
    {
        if (_work.Length < logits.Length)
        {
            _work = new float[logits.Length];
            _order = new int[logits.Length];
        }
        var l = _work.AsSpan(0, logits.Length);
        logits.CopyTo(l);
        foreach (var (tok, count) in _counts)
        {
            if (_o.RepetitionPenalty != 1f)
                l[tok] = l[tok] > 0 ? l[tok] / _o.RepetitionPenalty : l[tok] * _o.RepetitionPenalty;
            l[tok] -= count * _o.FrequencyPenalty + _o.PresencePenalty;
        }
        int chosen = _o.Temperature <= 0 ? ArgMax(l) : Draw(l);
        logprob = wantLogprob ? LogProbs(l, chosen, topLogprobs) : null;
        _counts[chosen] = _counts.GetValueOrDefault(chosen) + 1;
        return chosen;
    }

    private static int ArgMax(ReadOnlySpan<float> l)
    {
        int best = 0;
        for (int i = 1; i < l.Length; i++)
        {
            if (l[i] > l[best])
                best = i;
        }
        return best;
    }

    private int Draw(Span<float> l)
    {
        int n = l.Length;
        var order = _order.AsSpan(0, n);
        for (int i = 0; i < n; i++)
            order[i] = i;
        float[] w = _work;
        order.Sort((a, b) => w[b].CompareTo(w[a]));
        int keep = _o.TopK > 0 ? Math.Min(_o.TopK, n) : n;
        float max = l[order[0]];
        double sum = 0;
        Span<double> p = keep <= 4096 ? stackalloc double[keep] : new double[keep];
        for (int i = 0; i < keep; i++)
            sum += p[i] = Math.Exp((l[order[i]] - max) / _o.Temperature);
        double cum = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++)
        {
            if (p[i] / sum < _o.MinP * (p[0] / sum))
            {
                cut = Math.Max(1, i);
                break;
            }
            cum += p[i] / sum;
            if (cum >= _o.TopP)
            {
                cut = i + 1;
                break;
            }
        }
        double total = 0;
        for (int i = 0; i < cut; i++)
            total += p[i];
        double r = _rng.NextDouble() * total;
        for (int i = 0; i < cut; i++)
        {
            r -= p[i];
            if (r <= 0)
                return order[i];
        }
        return order[cut - 1];
    }

    private static TokenLogprob LogProbs(ReadOnlySpan<float> l, int chosen, int top)
    {
        float max = float.NegativeInfinity;
        foreach (float v in l)
            max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in l)
            sum += Math.Exp(v - max);
        float lse = max + (float)Math.Log(sum);
        var alts = new List<(int, float)>();
        if (top > 0)
        {
            var idx = Enumerable.Range(0, l.Length).ToArray();
            float[] copy = l.ToArray();
            Array.Sort(copy, idx);
            for (int i = 0; i < Math.Min(top, idx.Length); i++)
                alts.Add((idx[^(i + 1)], copy[^(i + 1)] - lse));
        }
        return new TokenLogprob(chosen, l[chosen] - lse, alts);
    }
}

/// <summary>Finds stop texts across token boundaries: holds back any tail that could still begin one, never emits the stop text.</summary>
internal sealed class StopMatcher
{
    private readonly IReadOnlyList<string> _stops;
    private string _held = "";

    public StopMatcher(IReadOnlyList<string> stops) => _stops = stops.Where(s => s.Length > 0).ToArray();

    /// <summary>Adds text; returns what is safe to emit, and the stop text when one matched (emission ends there).</summary>
    public string Push(string text, out string? matched)
    {
        matched = null;
        if (_stops.Count == 0)
            return text;
        string all = _held + text;
        int at = int.MaxValue;
        foreach (string s in _stops)
        {
            int i = all.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && i < at)
            {
                at = i;
                matched = s;
            }
        }
        if (matched is not null)
        {
            _held = "";
            return all[..at];
        }
        int hold = 0;
        foreach (string s in _stops)
        {
            for (int k = Math.Min(s.Length - 1, all.Length); k > hold; k--)
            {
                if (all.AsSpan(all.Length - k).SequenceEqual(s.AsSpan(0, k)))
                {
                    hold = k;
                    break;
                }
            }
        }
        _held = all[^hold..];
        return all[..^hold];
    }

    public string Flush()
    {
        string s = _held;
        _held = "";
        return s;
    }
}
