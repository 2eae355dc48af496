using System.Diagnostics;
using Fathom.Gguf;
using Fathom.KvPolicies;
using Fathom.Models;

namespace Fathom.Evaluation;

/// <summary>What <see cref="KvEval"/> runs.</summary>
public sealed record KvEvalOptions
{
    /// <summary>Tokens per evaluated window (the context the policies see).</summary>
    public required int ContextLength { get; init; }

    /// <summary>Last positions of each window that are decoded one at a time under the policy and scored.</summary>
    public int DecodeWindow { get; init; } = 256;

    /// <summary>Policy specs (<see cref="KvPolicy.Create"/>); <c>full</c> runs once, others once per budget.</summary>
    public IReadOnlyList<string> Policies { get; init; } = ["full"];

    /// <summary>Budgets as fractions of <see cref="ContextLength"/>.</summary>
    public IReadOnlyList<double> Budgets { get; init; } = [1.0 / 2, 1.0 / 4, 1.0 / 8, 1.0 / 16];

    /// <summary>Key element types: the first is used for the policy rows; every (K, V) pair runs with <c>full</c>.</summary>
    public IReadOnlyList<GgmlType> KeyTypes { get; init; } = [GgmlType.F16];

    public IReadOnlyList<GgmlType> ValueTypes { get; init; } = [GgmlType.F16];

    /// <summary>Windows of the text to evaluate (each starting with BOS); the figures pool their positions.</summary>
    public int Windows { get; init; } = 1;

    /// <summary>Tokens from one window's start to the next; 0 = <see cref="ContextLength"/> (consecutive windows).</summary>
    public int WindowStride { get; init; }

    public int Threads { get; init; } = 1;

    /// <summary>Positions per page for the page accounting.</summary>
    public int PageSize { get; init; } = 16;
}

/// <summary>
/// One policy at one budget and cache type, against full attention with f16 K and V over the same
/// positions: KL(P_ref ‖ P) statistics, top-1 agreement, RMS Δp of the actual next token, perplexity, the
/// mean KV bytes a decode step reads (K and V of the positions read, plus Quest's page bounds as f16),
/// and the KV bytes held at the end of the window (resident entries, compacted; plus bounds).
/// </summary>
public sealed record KvEvalRow(
    string Policy, string Parameters, double BudgetFraction, int BudgetTokens, string KeyType, string ValueType,
    double MeanKl, double MedianKl, double P99Kl, double MaxKl, double Top1, double RmsDeltaP, double Perplexity,
    double BytesReadPerStep, long KvBytesHeld, int PagesHeld, int Positions, double Seconds);

/// <summary>The rows plus the protocol they were measured with.</summary>
public sealed record KvEvalResult(IReadOnlyList<KvEvalRow> Rows, int ContextLength, int DecodeWindow, int Windows, int TextTokens);

/// <summary>A greedy continuation under one policy (the needle check).</summary>
public sealed record KvNeedleRow(string Policy, double BudgetFraction, int BudgetTokens, string Continuation, bool Retrieved);

/// <summary>
/// The KV-policy quality harness. Protocol per window of <see cref="KvEvalOptions.ContextLength"/> tokens
/// (BOS + text): prefill the first C − W tokens in one batch with full attention, let the policy act
/// (prefill-end eviction), then teacher-force the last W tokens one decode step at a time under the
/// policy, and compare each step's next-token distribution with the reference run (full attention, f16 K
/// and V, same harness kernel) at the same position.
/// </summary>
public static class KvEval
{
    public static KvEvalResult Run(Model model, ReadOnlySpan<int> tokens, int bos, KvEvalOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        int c = options.ContextLength, w = options.DecodeWindow;
        if (c < 8)
            throw new ArgumentOutOfRangeException(nameof(options), $"a context of {c} tokens is too short to evaluate");
        if (w < 1 || w >= c)
            throw new ArgumentOutOfRangeException(nameof(options), $"the decode window of {w} must be between 1 and the context of {c} − 1");
        if (options.Windows < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "at least one window must be evaluated");
        if (options.WindowStride < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"the window stride {options.WindowStride} must not be negative");
        int stride = options.WindowStride > 0 ? options.WindowStride : c;
        long needed = (long)(options.Windows - 1) * stride + c + 1;
        if (tokens.Length < needed)
            throw new ArgumentException($"the text is {tokens.Length} tokens; {options.Windows} window(s) of {c} every {stride} need at least {needed}", nameof(tokens));
        foreach (var f in options.Budgets)
        {
            if (!(f > 0 && f <= 1))
                throw new ArgumentOutOfRangeException(nameof(options), $"budget fraction {f} must be in (0, 1]");
        }
        foreach (var spec in options.Policies)
            _ = KvPolicy.Create(spec, c);
        if (options.KeyTypes.Count == 0 || options.ValueTypes.Count == 0)
            throw new ArgumentException("at least one key and one value type are needed", nameof(options));
        foreach (var t in options.KeyTypes.Concat(options.ValueTypes))
        {
            if (t is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0 or GgmlType.Q4_0))
                throw new ArgumentException($"KV element type {t} is not supported (f32, f16, q8_0, q4_0)", nameof(options));
            if (t is GgmlType.Q8_0 or GgmlType.Q4_0 && (model.Config.KeyLength % 32 != 0 || model.Config.ValueLength % 32 != 0))
                throw new ArgumentException($"KV element type {t} needs head sizes that are multiples of 32", nameof(options));
        }

        var windows = new int[options.Windows][];
        for (int i = 0; i < windows.Length; i++)
        {
            windows[i] = tokens.Slice(i * stride, c + 1).ToArray();
            if (bos >= 0)
                windows[i][0] = bos;
        }

        // Reference log-probabilities: full attention, f16 K and V.
        var reference = new double[windows.Length][];
        var rows = new List<KvEvalRow>();
        var refRun = Measure(model, windows, options, "full", 1.0, GgmlType.F16, GgmlType.F16, null, reference, progress);
        rows.Add(refRun);

        var (k0, v0) = (options.KeyTypes[0], options.ValueTypes[0]);
        foreach (var spec in options.Policies)
        {
            var probe = KvPolicy.Create(spec, c);
            if (probe is FullPolicy)
            {
                if (k0 != GgmlType.F16 || v0 != GgmlType.F16)
                    rows.Add(Measure(model, windows, options, spec, 1.0, k0, v0, reference, null, progress));
                continue;
            }
            foreach (var f in options.Budgets)
                rows.Add(Measure(model, windows, options, spec, f, k0, v0, reference, null, progress));
        }
        foreach (var kt in options.KeyTypes)
        {
            foreach (var vt in options.ValueTypes)
            {
                if ((kt, vt) is (GgmlType.F16, GgmlType.F16) || (kt, vt) == (k0, v0))
                    continue;
                rows.Add(Measure(model, windows, options, "full", 1.0, kt, vt, reference, null, progress));
            }
        }
        return new KvEvalResult(rows, c, w, windows.Length, tokens.Length);
    }

    /// <summary>
    /// Greedy continuation of <paramref name="prompt"/> (prefill of all but its last <paramref name="tail"/> tokens,
    /// then the tail and <paramref name="generate"/> new tokens as decode steps under the policy). Retrieved when
    /// the decoded continuation starts with <paramref name="answer"/>.
    /// </summary>
    public static KvNeedleRow Needle(Model model, Tokenization.Tokenizer tokenizer, int[] prompt, int tail, int generate, string answer,
        string spec, double budgetFraction, KvEvalOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        int context = prompt.Length + generate;
        int budget = Math.Max(1, (int)Math.Round(budgetFraction * prompt.Length));
        var policy = KvPolicy.Create(spec, budget);
        using var session = model.CreateSession(SessionFor(options, context, spec, budget, options.KeyTypes[0], options.ValueTypes[0]));
        session.Forward(prompt.AsSpan(0, prompt.Length - tail));
        ReadOnlySpan<float> logits = default;
        for (int i = prompt.Length - tail; i < prompt.Length; i++)
            logits = session.Forward([prompt[i]]);
        var output = new List<int>();
        for (int i = 0; i < generate; i++)
        {
            int next = ArgMax(logits);
            output.Add(next);
            if (i + 1 < generate)
                logits = session.Forward([next]);
        }
        string text = tokenizer.Decode([.. output]);
        return new KvNeedleRow(policy.Name, budgetFraction, policy is FullPolicy ? prompt.Length : budget, text, text.StartsWith(answer, StringComparison.Ordinal));
    }

    private static KvEvalRow Measure(Model model, int[][] windows, KvEvalOptions options, string spec, double fraction,
        GgmlType keyType, GgmlType valueType, double[][]? reference, double[][]? record, Action<string>? progress)
    {
        int c = options.ContextLength, w = options.DecodeWindow, vocab = model.Config.VocabSize;
        int budget = Math.Max(1, (int)Math.Round(fraction * c));
        var clock = Stopwatch.StartNew();
        var kls = new List<double>();
        double nll = 0, dp2 = 0, bytesRead = 0;
        int agree = 0, steps = 0, pagesHeld = 0;
        long held = 0;
        string parameters = "", name = spec;
        var cfg = model.Config;
        double kBytes = BytesPerElement(keyType) * cfg.KeyLength, vBytes = BytesPerElement(valueType) * cfg.ValueLength;
        var logp = new double[vocab];
        var refp = new double[vocab];
        for (int wi = 0; wi < windows.Length; wi++)
        {
            var policy = KvPolicy.Create(spec, budget);
            parameters = policy.Parameters;
            name = policy.Name;
            using var session = model.CreateSession(SessionFor(options, c, spec, budget, keyType, valueType));
            var runner = session.PolicyRunner;
            var window = windows[wi];
            session.Forward(window.AsSpan(0, c - w));
            if (record is not null)
                record[wi] = new double[w * vocab];
            for (int s = 0; s < w; s++)
            {
                // Step s runs token c−w+s at its position under the policy and predicts token c−w+s+1.
                var logits = session.Forward(window.AsSpan(c - w + s, 1));
                LogSoftmax(logits, logp);
                int target = window[c - w + s + 1];
                long reads = runner?.LastStepReads ?? HeldEntries(session);
                bytesRead += reads * (kBytes + vBytes) + (runner?.LastStepScoredPages ?? 0) * 2.0 * cfg.KeyLength * 2;
                steps++;
                if (record is not null)
                {
                    logp.CopyTo(record[wi].AsSpan(s * vocab, vocab));
                }
                if (reference is not null)
                {
                    var src = reference[wi].AsSpan(s * vocab, vocab);
                    double kl = 0;
                    int refTop = 0, top = 0;
                    for (int i = 0; i < vocab; i++)
                    {
                        refp[i] = src[i];
                        kl += Math.Exp(refp[i]) * (refp[i] - logp[i]);
                        if (refp[i] > refp[refTop])
                            refTop = i;
                        if (logp[i] > logp[top])
                            top = i;
                    }
                    kls.Add(Math.Max(0, kl));
                    agree += refTop == top ? 1 : 0;
                    double dp = Math.Exp(logp[target]) - Math.Exp(refp[target]);
                    dp2 += dp * dp;
                }
                else
                {
                    kls.Add(0);
                    agree++;
                }
                nll -= logp[target];
            }
            long entries = runner?.Residency.Entries ?? HeldEntries(session);
            held += (long)Math.Round(entries * (kBytes + vBytes));
            if (policy is QuestPolicy q)
                held += (long)cfg.BlockCount * cfg.HeadCountKv * ((c + q.Page - 1) / q.Page) * 2L * cfg.KeyLength * 2;
            pagesHeld = Math.Max(pagesHeld, session.KvCache.Accounting.PagesUsed);
        }
        kls.Sort();
        double Quantile(double f) => kls[Math.Min(kls.Count - 1, (int)Math.Floor(f * kls.Count))];
        progress?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{name} {parameters} K={keyType} V={valueType}: mean KL {kls.Average():G4}, top-1 {agree / (double)steps:P2}, {clock.Elapsed.TotalSeconds:F1} s"));
        return new KvEvalRow(name, parameters, fraction, budget, keyType.ToString(), valueType.ToString(),
            kls.Average(), Quantile(0.5), Quantile(0.99), kls[^1], agree / (double)steps, Math.Sqrt(dp2 / steps), Math.Exp(nll / steps),
            bytesRead / steps, held / windows.Length, pagesHeld, steps, clock.Elapsed.TotalSeconds);
    }

    // Every session runs the tiled kernel (the reference too), so a policy that reads everything is bit-exact.
    private static SessionOptions SessionFor(KvEvalOptions options, int context, string spec, int budget, GgmlType keyType, GgmlType valueType) => new()
    {
        ContextLength = context,
        Threads = options.Threads,
        Attention = AttentionPath.Tiled,
        KeyType = ToKv(keyType),
        ValueType = ToKv(valueType),
        PageSize = options.PageSize,
        KvPolicy = spec,
        KvBudget = budget,
    };

    private static KvCache.KvType ToKv(GgmlType type) => type switch
    {
        GgmlType.F32 => KvCache.KvType.F32,
        GgmlType.F16 => KvCache.KvType.F16,
        GgmlType.Q8_0 => KvCache.KvType.Q8_0,
        _ => KvCache.KvType.Q4_0,
    };

    // Slots × KV heads over every layer: what full attention holds and reads.
    private static long HeldEntries(ModelSession session)
    {
        long n = 0;
        for (int l = 0; l < session.Sequence.LayerCount; l++)
            n += session.Sequence.SlotCount(l);
        return n * session.Config.HeadCountKv;
    }

    private static void LogSoftmax(ReadOnlySpan<float> logits, double[] dst)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
            max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in logits)
            sum += Math.Exp(v - max);
        double lse = max + Math.Log(sum);
        for (int i = 0; i < logits.Length; i++)
            dst[i] = logits[i] - lse;
    }
    internal static double BytesPerElement(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 => 2,
        GgmlType.Q8_0 => 34.0 / 32,
        _ => 18.0 / 32,
    };

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++)
        {
            if (x[i] > x[best])
                best = i;
        }
        return best;
    }
}
