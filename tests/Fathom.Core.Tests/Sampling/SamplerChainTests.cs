using CsCheck;
using Fathom.Sampling;

namespace Fathom.Tests.Sampling;

public class SamplerChainTests
{
    // Small integer logits so ties are common.
    private static readonly Gen<float[]> TiedLogits = Gen.Int[-4, 4].Select(i => (float)i).Array[1, 40];
    private static readonly Gen<float[]> Logits = Gen.Float[-8f, 8f].Array[1, 60];

    private static int ReferenceArgmax(float[] l) => Enumerable.Range(0, l.Length).OrderByDescending(i => l[i]).ThenBy(i => i).First();

    private static int[] ReferenceOrder(float[] l) => [.. Enumerable.Range(0, l.Length).OrderByDescending(i => l[i]).ThenBy(i => i)];

    private static double[] Softmax(float[] l)
    {
        double max = l.Max();
        double[] e = [.. l.Select(x => Math.Exp(x - max))];
        double sum = e.Sum();
        return [.. e.Select(x => x / sum)];
    }

    private static CandidateSet Load(float[] logits)
    {
        var c = new CandidateSet();
        c.Load(logits);
        return c;
    }

    private static int[] Kept(CandidateSet c) => c.Ids.AsSpan(0, c.Count).ToArray();

    [Fact]
    public void Greedy_is_argmax_with_lowest_id_on_ties()
    {
        TiedLogits.Sample(l => new SamplerChain(SamplingOptions.Greedy).Sample(l, []) == ReferenceArgmax(l));
    }

    [Fact]
    public void Top_k_keeps_exactly_k_best_breaking_ties_by_id()
    {
        Gen.Select(TiedLogits, Gen.Int[1, 50]).Sample((l, k) =>
        {
            var c = Load(l);
            c.KeepTop(k);
            return Kept(c).SequenceEqual(ReferenceOrder(l).Take(k)) && c.Sorted;
        });
    }

    [Fact]
    public void Top_k_after_a_sort_truncates_the_same_way()
    {
        Gen.Select(TiedLogits, Gen.Int[1, 50]).Sample((l, k) =>
        {
            var c = Load(l);
            c.Sort();
            c.KeepTop(k);
            return Kept(c).SequenceEqual(ReferenceOrder(l).Take(k));
        });
    }

    [Fact]
    public void Top_p_keeps_the_minimal_prefix_whose_mass_reaches_p()
    {
        Gen.Select(Logits, Gen.Float[0.05f, 0.99f]).Sample((l, p) =>
        {
            var c = Load(l);
            new TopPStage(p).Apply(c);
            int[] order = ReferenceOrder(l);
            double[] probs = Softmax(l);
            int[] kept = Kept(c);
            double mass = kept.Sum(i => probs[i]);
            double withoutLast = mass - probs[kept[^1]];
            return kept.SequenceEqual(order.Take(kept.Length)) && mass >= p - 1e-9 && withoutLast < p + 1e-9;
        });
    }

    [Fact]
    public void Min_p_keeps_tokens_at_least_min_p_times_the_top_probability()
    {
        Gen.Select(Logits, Gen.Float[0.001f, 1f]).Sample((l, minP) =>
        {
            var c = Load(l);
            new MinPStage(minP).Apply(c);
            double[] probs = Softmax(l);
            double top = probs.Max();
            var kept = Kept(c).ToHashSet();
            for (int i = 0; i < l.Length; i++)
            {
                double ratio = probs[i] / top;
                if (Math.Abs(ratio - minP) < 1e-5) continue; // float rounding decides the boundary
                if (kept.Contains(i) != (ratio >= minP)) return false;
            }
            return kept.Count >= 1;
        });
    }

    [Fact]
    public void Typical_p_keeps_the_tokens_nearest_the_entropy_until_mass_reaches_p()
    {
        Gen.Select(Logits, Gen.Float[0.05f, 0.99f]).Sample((l, p) =>
        {
            var c = Load(l);
            new TypicalPStage(p).Apply(c);
            double[] probs = Softmax(l);
            double h = -probs.Where(x => x > 0).Sum(x => x * Math.Log(x));
            double Dist(int i) => Math.Abs(-Math.Log(probs[i]) - h);
            int[] kept = Kept(c);
            double mass = kept.Sum(i => probs[i]);
            var keptSet = kept.ToHashSet();
            double worstKept = kept.Max(Dist);
            bool nearestFirst = Enumerable.Range(0, l.Length).Where(i => !keptSet.Contains(i)).All(i => Dist(i) >= worstKept - 1e-5);
            return mass >= p - 1e-6 && mass - probs[kept[^1]] < p + 1e-6 && nearestFirst;
        });
    }

    [Fact]
    public void Penalties_follow_llama_cpp()
    {
        var chain = new SamplerChain(new SamplingOptions
        {
            RepetitionPenalty = 2f, FrequencyPenalty = 0.5f, PresencePenalty = 1f, PenaltyLastN = 4,
        });
        // Token 0 occurs 3 times in the window, token 1 once, token 2 only before the window.
        var c = chain.Prepare([2f, -2f, 3f, 1f], [2, 0, 1, 0, 0]);
        Assert.Equal(2f / 2 - 3 * 0.5f - 1f, c.Logits[0], 6);
        Assert.Equal(-2f * 2 - 0.5f - 1f, c.Logits[1], 6);
        Assert.Equal(3f, c.Logits[2]);
        Assert.Equal(1f, c.Logits[3]);
    }

    [Fact]
    public void Penalties_never_raise_a_logit_and_grow_with_repetition()
    {
        var gen = Gen.Select(Logits, Gen.Float[1f, 3f], Gen.Float[0f, 2f], Gen.Float[0f, 2f], Gen.Int[0, 1000]);
        gen.Sample((l, rep, freq, presence, seed) =>
        {
            var chain = new SamplerChain(new SamplingOptions
            {
                RepetitionPenalty = rep, FrequencyPenalty = freq, PresencePenalty = presence, PenaltyLastN = -1,
            });
            var rng = new Random(seed);
            int[] history = [.. Enumerable.Range(0, 20).Select(_ => rng.Next(l.Length))];
            float[] once = chain.Prepare(l, history).Logits[..l.Length];
            float[] twice = chain.Prepare(l, [.. history, .. history]).Logits[..l.Length];
            for (int i = 0; i < l.Length; i++)
                if (once[i] > l[i] || twice[i] > once[i] + 1e-5f) return false;
            return true;
        });
    }

    [Fact]
    public void Logit_bias_of_minus_infinity_bans_a_token()
    {
        Gen.Select(Logits, Gen.ULong).Sample((l, seed) =>
        {
            if (l.Length < 2) return true;
            int banned = ReferenceArgmax(l);
            var bias = new Dictionary<int, float> { [banned] = float.NegativeInfinity };
            var greedy = new SamplerChain(SamplingOptions.Greedy with { LogitBias = bias });
            var sampled = new SamplerChain(new SamplingOptions { Temperature = 2f, LogitBias = bias, Seed = seed });
            return greedy.Sample(l, []) != banned && Enumerable.Range(0, 20).All(_ => sampled.Sample(l, []) != banned);
        });
    }

    [Fact]
    public void Temperature_near_zero_equals_greedy()
    {
        Gen.Select(TiedLogits, Gen.ULong).Sample((l, seed) =>
        {
            int best = ReferenceArgmax(l);
            if (l.Count(x => x == l[best]) > 1) return true; // a tie is a fair coin at any temperature
            var chain = new SamplerChain(new SamplingOptions { Temperature = 1e-3f, Seed = seed });
            return chain.Sample(l, []) == new SamplerChain(SamplingOptions.Greedy).Sample(l, []);
        });
    }

    [Fact]
    public void The_same_seed_gives_the_same_tokens()
    {
        Gen.Select(Logits, Gen.ULong, Gen.Float[0.1f, 2f]).Sample((l, seed, t) =>
        {
            var o = new SamplingOptions { Temperature = t, TopK = 20, TopP = 0.95f, MinP = 0.01f, Seed = seed };
            var a = new SamplerChain(o);
            var b = new SamplerChain(o);
            return Enumerable.Range(0, 16).All(_ => a.Sample(l, []) == b.Sample(l, []));
        });
    }

    [Fact]
    public void A_seed_pins_the_draws_across_runtimes()
    {
        // Our own PRNG: these draws must not change when .NET changes System.Random.
        var chain = new SamplerChain(new SamplingOptions { Seed = 1234 });
        float[] uniform = new float[1000];
        int[] first = [.. Enumerable.Range(0, 8).Select(_ => chain.Sample(uniform, []))];
        var again = new SamplerChain(new SamplingOptions { Seed = 1234 });
        Assert.Equal(first, Enumerable.Range(0, 8).Select(_ => again.Sample(uniform, [])));
        var other = new SamplerChain(new SamplingOptions { Seed = 1235 });
        Assert.NotEqual(first, Enumerable.Range(0, 8).Select(_ => other.Sample(uniform, [])));
    }

    [Fact]
    public void Draws_follow_the_softmax_distribution()
    {
        float[] l = [0f, 1f, 2f, -1f];
        double[] p = Softmax(l);
        var chain = new SamplerChain(new SamplingOptions { Seed = 7 });
        const int N = 40_000;
        int[] counts = new int[l.Length];
        for (int i = 0; i < N; i++) counts[chain.Sample(l, [])]++;
        for (int i = 0; i < l.Length; i++)
        {
            double sd = Math.Sqrt(N * p[i] * (1 - p[i]));
            Assert.InRange(counts[i], N * p[i] - 5 * sd, N * p[i] + 5 * sd);
        }
    }

    [Fact]
    public void Filters_see_the_temperature_one_distribution()
    {
        // Top-p at 0.5 keeps only token 2 at temperature 1; a high temperature must not widen that set.
        float[] l = [0f, 1f, 3f, -1f];
        var chain = new SamplerChain(new SamplingOptions { Temperature = 5f, TopP = 0.5f, Seed = 3 });
        Assert.All(Enumerable.Range(0, 200), _ => Assert.Equal(2, chain.Sample(l, [])));
    }

    [Fact]
    public void Logprobs_are_the_raw_log_softmax_with_top_alternatives()
    {
        Gen.Select(TiedLogits, Gen.Int[1, 8]).Sample((l, n) =>
        {
            var chain = new SamplerChain(new SamplingOptions { Temperature = 0.5f, RepetitionPenalty = 1.5f, Seed = 1 });
            var top = new TokenLogprob[n];
            int token = chain.Sample(l, [0, 0], top, out float lp);
            double[] probs = Softmax(l);
            int[] order = ReferenceOrder(l);
            int m = Math.Min(n, l.Length);
            for (int i = 0; i < m; i++)
            {
                if (top[i].TokenId != order[i] || Math.Abs(top[i].Logprob - Math.Log(probs[order[i]])) > 1e-4) return false;
            }
            return Math.Abs(lp - Math.Log(probs[token])) < 1e-4;
        });
    }

    [Fact]
    public void A_step_allocates_nothing_once_warm()
    {
        var rng = new Random(5);
        float[] l = [.. Enumerable.Range(0, 32_000).Select(_ => (float)(rng.NextDouble() * 10))];
        int[] history = [.. Enumerable.Range(0, 100).Select(_ => rng.Next(l.Length))];
        var chain = new SamplerChain(new SamplingOptions
        {
            Temperature = 0.8f, TopK = 50, TopP = 0.9f, MinP = 0.02f, TypicalP = 0.95f, RepetitionPenalty = 1.1f,
            FrequencyPenalty = 0.1f, PresencePenalty = 0.1f, LogitBias = new Dictionary<int, float> { [3] = 1f }, Seed = 9,
        });
        var top = new TokenLogprob[5];
        chain.Sample(l, history, top, out _);
        Assert.Equal(0, Allocations.Of(() => { for (int i = 0; i < 5; i++) chain.Sample(l, history, top, out _); }));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Bad_logits_are_a_typed_error(float bad)
    {
        var ex = Assert.Throws<SamplingException>(() => new SamplerChain(new SamplingOptions { Seed = 1 }).Sample([0f, bad], []));
        Assert.Contains("logit 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void All_banned_and_out_of_range_history_are_typed_errors()
    {
        Assert.Throws<SamplingException>(() => new SamplerChain(new SamplingOptions { Seed = 1 }).Sample([float.NegativeInfinity, float.NegativeInfinity], []));
        Assert.Throws<SamplingException>(() => new SamplerChain(new SamplingOptions { RepetitionPenalty = 1.2f }).Sample([0f, 1f], [5]));
    }

    public static TheoryData<SamplingOptions> BadOptions => new()
    {
        new SamplingOptions { Temperature = -1f },
        new SamplingOptions { Temperature = float.NaN },
        new SamplingOptions { TopK = -1 },
        new SamplingOptions { TopP = 0f },
        new SamplingOptions { TopP = 1.5f },
        new SamplingOptions { MinP = -0.1f },
        new SamplingOptions { TypicalP = 0f },
        new SamplingOptions { RepetitionPenalty = 0f },
        new SamplingOptions { FrequencyPenalty = float.NaN },
        new SamplingOptions { PenaltyLastN = -2 },
        new SamplingOptions { LogitBias = new Dictionary<int, float> { [-1] = 1f } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Bad_options_are_a_typed_error(SamplingOptions options)
    {
        Assert.Throws<SamplingException>(() => new SamplerChain(options));
    }
}
