using System.Security.Cryptography;

namespace Fathom.Sampling;

/// <summary>
/// Picks the next token of one sequence from the model's logits. The order is llama.cpp's default:
/// logit bias → repetition/frequency/presence penalties → top-k → typical-p → top-p → min-p → temperature → seeded
/// draw; temperature 0 is argmax after bias and penalties (lowest id on ties). Filters therefore see the
/// distribution at temperature 1, as in llama.cpp. One instance per sequence (it owns the RNG state and reusable
/// vocabulary-sized buffers); not thread-safe. A step allocates nothing once the buffers exist.
/// </summary>
public sealed class SamplerChain
{
    private readonly CandidateSet _candidates = new();
    private readonly SamplerStage[] _stages;
    private readonly int[] _biasIds;
    private readonly float[] _biasValues;
    private readonly bool _penalize;
    private int[] _counts = [];
    private int[] _touched = [];
    private Xoshiro256 _rng;

    public SamplerChain(SamplingOptions options) : this(options, null)
    {
    }

    /// <summary>
    /// A chain whose candidates are first restricted to what <paramref name="grammar"/> allows (before bias and
    /// penalties, so no filter can leave only disallowed tokens); each sampled token is accepted into it.
    /// </summary>
    public SamplerChain(SamplingOptions options, GrammarConstraint? grammar)
    {
        Grammar = grammar;
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        Options = options;
        Seed = options.Seed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        _rng = new Xoshiro256(Seed);
        _penalize = options.PenaltyLastN != 0 &&
            (options.RepetitionPenalty != 1f || options.FrequencyPenalty != 0f || options.PresencePenalty != 0f);
        int biasCount = options.LogitBias?.Count ?? 0;
        _biasIds = new int[biasCount];
        _biasValues = new float[biasCount];
        if (options.LogitBias is not null)
        {
            int i = 0;
            foreach (var (id, bias) in options.LogitBias.OrderBy(kv => kv.Key))
            {
                _biasIds[i] = id;
                _biasValues[i] = bias;
                i++;
            }
        }
        var stages = new List<SamplerStage>();
        if (!options.IsGreedy)
        {
            if (options.TopK > 0) stages.Add(new TopKStage(options.TopK));
            if (options.TypicalP < 1f) stages.Add(new TypicalPStage(options.TypicalP));
            if (options.TopP < 1f) stages.Add(new TopPStage(options.TopP));
            if (options.MinP > 0f) stages.Add(new MinPStage(options.MinP));
            if (options.Temperature != 1f) stages.Add(new TemperatureStage(options.Temperature));
        }
        _stages = [.. stages];
    }

    public SamplingOptions Options { get; }

    /// <summary>The grammar the output must follow, or null.</summary>
    public GrammarConstraint? Grammar { get; }

    /// <summary>The seed in use (the one given, or the random one drawn when none was).</summary>
    public ulong Seed { get; }

    /// <summary>Samples the next token. <paramref name="history"/> is the sequence so far (prompt and output); penalties look at its tail.</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        CheckLogits(logits);
        if (Grammar is not null) return SampleConstrained(logits, history, Grammar);
        if (Options.IsGreedy && _biasIds.Length == 0 && !_penalize) return Argmax(logits);
        var c = Prepare(logits, history);
        if (Options.IsGreedy) return Argmax(c.Logits.AsSpan(0, c.Count));
        foreach (var stage in _stages) stage.Apply(c);
        return Draw(c);
    }

    private int SampleConstrained(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, GrammarConstraint grammar)
    {
        var c = _candidates;
        if (Options.IsGreedy)
        {
            // greedy: when the unconstrained choice is allowed it is also the constrained one, and a mask is skipped
            c.Load(logits);
            ApplyBias(c);
            if (_penalize) ApplyPenalties(c, history);
            int best = Argmax(c.Logits.AsSpan(0, c.Count));
            if (!float.IsNegativeInfinity(c.Logits[best]) && grammar.IsAllowed(best))
            {
                grammar.Accept(best);
                return best;
            }
        }
        c.Load(logits);
        grammar.Mask(c.Logits.AsSpan(0, c.Count));
        if (float.IsNegativeInfinity(c.MaxLogit()))
            throw new SamplingException("the grammar allows no token here (the sequence already ended, or the vocabulary cannot spell what comes next)");
        ApplyBias(c);
        if (_penalize) ApplyPenalties(c, history);
        // bias or penalties may have pushed every allowed token to -inf; fall back to the grammar's choice alone
        if (float.IsNegativeInfinity(c.MaxLogit()))
        {
            c.Load(logits);
            grammar.Mask(c.Logits.AsSpan(0, c.Count));
        }
        int token;
        if (Options.IsGreedy)
        {
            token = Argmax(c.Logits.AsSpan(0, c.Count));
        }
        else
        {
            foreach (var stage in _stages) stage.Apply(c);
            token = Draw(c);
        }
        grammar.Accept(token);
        return token;
    }

    /// <summary>
    /// Samples the next token and reports its log-probability and the <paramref name="alternatives"/>.Length most
    /// likely tokens (most likely first, ties by id) under the model's raw distribution — log-softmax of
    /// <paramref name="logits"/> before bias, penalties and temperature, as OpenAI reports logprobs.
    /// Returns the token; fills min(alternatives.Length, vocabulary) entries.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, Span<TokenLogprob> alternatives, out float logprob)
    {
        int token = Sample(logits, history);
        float lse = LogSumExp(logits);
        logprob = logits[token] - lse;
        if (alternatives.Length > 0) TopLogprobs(logits, lse, alternatives);
        return token;
    }

    /// <summary>Index of the largest logit, the lowest index on ties.</summary>
    public static int Argmax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new SamplingException("logits are empty");
        int best = 0;
        float max = logits[0];
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > max)
            {
                max = logits[i];
                best = i;
            }
        }
        return best;
    }

    /// <summary>log Σ exp(logits), computed stably (in double).</summary>
    public static float LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = logits[Argmax(logits)];
        if (float.IsNegativeInfinity(max)) return max;
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] - max);
        return (float)(max + Math.Log(sum));
    }

    private void TopLogprobs(ReadOnlySpan<float> logits, float lse, Span<TokenLogprob> alternatives)
    {
        var c = _candidates;
        c.Load(logits);
        int n = Math.Min(alternatives.Length, logits.Length);
        c.KeepTop(n);
        for (int i = 0; i < n; i++) alternatives[i] = new TokenLogprob(c.Ids[i], c.Logits[i] - lse);
    }

    /// <summary>Loads the candidates (in id order) with bias and penalties applied; what every later stage sees.</summary>
    internal CandidateSet Prepare(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        var c = _candidates;
        c.Load(logits);
        ApplyBias(c);
        if (_penalize) ApplyPenalties(c, history);
        return c;
    }

    private void ApplyBias(CandidateSet c)
    {
        for (int i = 0; i < _biasIds.Length; i++)
        {
            int id = _biasIds[i];
            if ((uint)id < (uint)c.Count) c.Logits[id] += _biasValues[i];
        }
    }

    private void ApplyPenalties(CandidateSet c, ReadOnlySpan<int> history)
    {
        int n = Options.PenaltyLastN < 0 ? history.Length : Math.Min(Options.PenaltyLastN, history.Length);
        if (n == 0) return;
        ReadOnlySpan<int> window = history[^n..];
        if (_counts.Length < c.Count) _counts = new int[c.Count];
        if (_touched.Length < n) _touched = new int[Math.Max(n, 64)];
        int distinct = 0;
        foreach (int id in window)
        {
            if ((uint)id >= (uint)c.Count)
                throw new SamplingException($"history token {id} is outside the vocabulary of {c.Count} logits");
            if (_counts[id]++ == 0) _touched[distinct++] = id;
        }
        float rep = Options.RepetitionPenalty, freq = Options.FrequencyPenalty, presence = Options.PresencePenalty;
        for (int i = 0; i < distinct; i++)
        {
            int id = _touched[i];
            float l = c.Logits[id];
            l = l > 0 ? l / rep : l * rep;
            c.Logits[id] = l - _counts[id] * freq - presence;
            _counts[id] = 0;
        }
    }

    private int Draw(CandidateSet c)
    {
        if (float.IsNegativeInfinity(c.MaxLogit()))
            throw new SamplingException("every token has probability 0 (all logits are -inf after bias and penalties)");
        c.Softmax();
        double u = _rng.NextDouble();
        double cum = 0;
        for (int i = 0; i < c.Count; i++)
        {
            cum += c.Probs[i];
            if (u < cum) return c.Ids[i];
        }
        // Rounding left the cumulative sum just under 1: take the last token that has any probability.
        for (int i = c.Count - 1; i > 0; i--) if (c.Probs[i] > 0) return c.Ids[i];
        return c.Ids[0];
    }

    private static void CheckLogits(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new SamplingException("logits are empty");
        for (int i = 0; i < logits.Length; i++)
        {
            float l = logits[i];
            if (float.IsNaN(l) || float.IsPositiveInfinity(l))
                throw new SamplingException($"logit {i} is {l}; logits must be finite or -inf");
        }
    }

    private static void Validate(SamplingOptions o)
    {
        if (!(o.Temperature >= 0f) || float.IsPositiveInfinity(o.Temperature))
            throw new SamplingException($"temperature must be a finite number ≥ 0, got {o.Temperature}");
        if (o.TopK < 0) throw new SamplingException($"top_k must be ≥ 0 (0 = off), got {o.TopK}");
        if (!(o.TopP > 0f && o.TopP <= 1f)) throw new SamplingException($"top_p must be in (0, 1], got {o.TopP}");
        if (!(o.MinP >= 0f && o.MinP <= 1f)) throw new SamplingException($"min_p must be in [0, 1], got {o.MinP}");
        if (!(o.TypicalP > 0f && o.TypicalP <= 1f)) throw new SamplingException($"typical_p must be in (0, 1], got {o.TypicalP}");
        if (!(o.RepetitionPenalty > 0f) || float.IsPositiveInfinity(o.RepetitionPenalty))
            throw new SamplingException($"repetition_penalty must be a finite number > 0, got {o.RepetitionPenalty}");
        if (!float.IsFinite(o.FrequencyPenalty)) throw new SamplingException($"frequency_penalty must be finite, got {o.FrequencyPenalty}");
        if (!float.IsFinite(o.PresencePenalty)) throw new SamplingException($"presence_penalty must be finite, got {o.PresencePenalty}");
        if (o.PenaltyLastN < -1) throw new SamplingException($"penalty_last_n must be ≥ -1 (-1 = whole history), got {o.PenaltyLastN}");
        if (o.LogitBias is not null)
        {
            foreach (var (id, bias) in o.LogitBias)
            {
                if (id < 0) throw new SamplingException($"logit_bias token id {id} is negative");
                if (float.IsNaN(bias) || float.IsPositiveInfinity(bias))
                    throw new SamplingException($"logit_bias for token {id} is {bias}; it must be finite or -inf");
            }
        }
    }
}
