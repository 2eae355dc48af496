namespace Fathom.Sampling;

/// <summary>Beam search settings.</summary>
public sealed record BeamSearchOptions
{
    /// <summary>Beams kept per step, and hypotheses returned.</summary>
    public int BeamWidth { get; init; } = 4;

    /// <summary>Most tokens generated per hypothesis (an end token counts).</summary>
    public int MaxTokens { get; init; } = 64;

    /// <summary>Score = Σ log p / length^LengthPenalty (Hugging Face semantics): &gt; 0 favours longer output, 0 is the raw sum.</summary>
    public float LengthPenalty { get; init; } = 1f;

    /// <summary>
    /// True: stop as soon as <see cref="BeamWidth"/> hypotheses have finished (fast, may miss a better late one).
    /// False: stop only when no running beam can still beat the worst kept hypothesis (exact bound).
    /// </summary>
    public bool EarlyStopping { get; init; }

    /// <summary>Tokens that end a hypothesis (EOS, end of turn).</summary>
    public IReadOnlyCollection<int> EndTokens { get; init; } = [];
}

/// <summary>A finished beam: its tokens (including the end token, if it ended on one) and scores.</summary>
public sealed record BeamHypothesis(IReadOnlyList<int> Tokens, double SumLogprob, double Score);

/// <summary>
/// Produces next-token logits for each beam: <paramref name="beams"/> holds each beam's generated tokens (not the
/// prompt); write beam i's logits to row i of <paramref name="logits"/> (beams.Count × vocabulary, row-major).
/// </summary>
public delegate void BeamStepFunction(IReadOnlyList<IReadOnlyList<int>> beams, Span<float> logits);

/// <summary>Beam search with length normalization and early stopping over an abstract step function (so it runs without a model).</summary>
public static class BeamSearch
{
    /// <summary>Returns up to <see cref="BeamSearchOptions.BeamWidth"/> hypotheses, best score first.</summary>
    public static IReadOnlyList<BeamHypothesis> Run(int vocabularySize, BeamStepFunction step, BeamSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(options);
        if (vocabularySize <= 0) throw new SamplingException($"vocabulary size must be > 0, got {vocabularySize}");
        if (options.BeamWidth <= 0) throw new SamplingException($"beam width must be > 0, got {options.BeamWidth}");
        if (options.MaxTokens <= 0) throw new SamplingException($"max tokens must be > 0, got {options.MaxTokens}");
        if (!float.IsFinite(options.LengthPenalty)) throw new SamplingException($"length penalty must be finite, got {options.LengthPenalty}");

        int width = options.BeamWidth, vocab = vocabularySize;
        var ends = new HashSet<int>(options.EndTokens);
        var running = new List<(List<int> Tokens, double Sum)> { ([], 0.0) };
        var finished = new List<BeamHypothesis>();
        int perRow = (int)Math.Min((long)vocab, 2L * width);
        var logits = new float[checked(width * vocab)];
        var rowKeys = new ulong[vocab];
        var candidates = new List<(double Score, int Beam, int Token)>(width * perRow);

        for (int length = 1; length <= options.MaxTokens && running.Count > 0; length++)
        {
            Span<float> all = logits.AsSpan(0, running.Count * vocab);
            all.Clear();
            step(running.ConvertAll(r => (IReadOnlyList<int>)r.Tokens), all);
            candidates.Clear();
            for (int b = 0; b < running.Count; b++)
            {
                ReadOnlySpan<float> row = all.Slice(b * vocab, vocab);
                for (int t = 0; t < vocab; t++)
                {
                    if (float.IsNaN(row[t]) || float.IsPositiveInfinity(row[t]))
                        throw new SamplingException($"beam {b} logit {t} is {row[t]}; logits must be finite or -inf");
                    rowKeys[t] = CandidateSet.DescendingKey(row[t], t);
                }
                Selection.NthElement(rowKeys, perRow);
                double lse = SamplerChain.LogSumExp(row);
                for (int r = 0; r < perRow; r++)
                {
                    int t = (int)(uint)rowKeys[r];
                    if (!float.IsNegativeInfinity(row[t])) candidates.Add((running[b].Sum + (row[t] - lse), b, t));
                }
            }
            // Best first; ties by beam then token so the result is deterministic.
            candidates.Sort((x, y) => x.Score != y.Score ? y.Score.CompareTo(x.Score) : x.Beam != y.Beam ? x.Beam.CompareTo(y.Beam) : x.Token.CompareTo(y.Token));

            var next = new List<(List<int> Tokens, double Sum)>(width);
            for (int rank = 0; rank < candidates.Count && next.Count < width; rank++)
            {
                var (score, beam, token) = candidates[rank];
                List<int> tokens = [.. running[beam].Tokens, token];
                if (ends.Contains(token))
                {
                    // An end token only counts when it ranks among the beam width (as in Hugging Face).
                    if (rank < width) Keep(finished, new BeamHypothesis(tokens, score, Normalize(score, length, options.LengthPenalty)), width);
                }
                else
                {
                    next.Add((tokens, score));
                }
            }
            if (length == options.MaxTokens)
            {
                foreach (var (tokens, sum) in next) Keep(finished, new BeamHypothesis(tokens, sum, Normalize(sum, length, options.LengthPenalty)), width);
                next.Clear();
            }
            running = next;
            if (finished.Count >= width && running.Count > 0)
            {
                if (options.EarlyStopping) break;
                double worst = finished[^1].Score;
                bool canImprove = running.Exists(r => BestPossible(r.Sum, length, options) > worst);
                if (!canImprove) break;
            }
        }
        return finished;
    }

    private static double Normalize(double sum, int length, float penalty) => sum / Math.Pow(length, penalty);

    /// <summary>An upper bound on any final score of a running beam: the sum only falls, and the length lies in (length, max].</summary>
    private static double BestPossible(double sum, int length, BeamSearchOptions o)
    {
        int bestLength = o.LengthPenalty >= 0 ? o.MaxTokens : length + 1;
        return Normalize(sum, bestLength, o.LengthPenalty);
    }

    private static void Keep(List<BeamHypothesis> finished, BeamHypothesis h, int width)
    {
        int at = 0;
        while (at < finished.Count && finished[at].Score >= h.Score) at++;
        if (at >= width) return;
        finished.Insert(at, h);
        if (finished.Count > width) finished.RemoveAt(finished.Count - 1);
    }
}
