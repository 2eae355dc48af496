using CsCheck;
using Fathom.Sampling;

namespace Fathom.Tests.Sampling;

public class BeamSearchTests
{
    private const int Eos = 0;

    /// <summary>Logits that are a fixed pseudo-random function of (seed, prefix): a model with no state.</summary>
    private static BeamStepFunction HashedModel(int vocab, ulong seed) => (beams, logits) =>
    {
        for (int b = 0; b < beams.Count; b++)
        {
            ulong h = seed;
            foreach (int t in beams[b]) h = (h ^ (ulong)(t + 1)) * 0x100000001B3UL;
            for (int v = 0; v < vocab; v++)
            {
                ulong x = (h ^ (ulong)(v * 7919 + 1)) * 0x9E3779B97F4A7C15UL;
                logits[b * vocab + v] = (float)((x >> 40) / (double)(1UL << 24) * 6 - 3);
            }
        }
    };

    private static double LogProb(BeamStepFunction model, int vocab, IReadOnlyList<int> prefix, int token)
    {
        var row = new float[vocab];
        model([prefix], row);
        return row[token] - SamplerChain.LogSumExp(row);
    }

    /// <summary>Every sequence the search may finish: ends with EOS at any length ≤ max, or hits max length without EOS.</summary>
    private static (List<int> Tokens, double Score) BruteForce(BeamStepFunction model, int vocab, int max, double alpha)
    {
        (List<int>, double) best = ([], double.NegativeInfinity);
        void Walk(List<int> prefix, double sum)
        {
            for (int t = 0; t < vocab; t++)
            {
                double s = sum + LogProb(model, vocab, prefix, t);
                List<int> next = [.. prefix, t];
                if (t == Eos || next.Count == max)
                {
                    double score = s / Math.Pow(next.Count, alpha);
                    if (score > best.Item2) best = (next, score);
                }
                else
                {
                    Walk(next, s);
                }
            }
        }
        Walk([], 0);
        return best;
    }

    [Fact]
    public void A_beam_wide_enough_for_every_path_finds_the_best_sequence()
    {
        Gen.Select(Gen.ULong, Gen.Int[2, 3], Gen.Int[1, 3], Gen.Double[-1, 2]).Sample((seed, vocab, max, alpha) =>
        {
            var model = HashedModel(vocab, seed);
            var (tokens, score) = BruteForce(model, vocab, max, alpha);
            var result = BeamSearch.Run(vocab, model, new BeamSearchOptions
            {
                BeamWidth = 27, MaxTokens = max, LengthPenalty = (float)alpha, EndTokens = [Eos],
            });
            // Compare scores: two sequences may tie, and the reported score must be the true normalized one.
            return Math.Abs(result[0].Score - score) < 1e-6 && result[0].Tokens.Count > 0 && tokens.Count > 0;
        }, iter: 40);
    }

    [Fact]
    public void Beam_search_beats_greedy_on_a_hand_built_tree()
    {
        // Root: token 1 (p .6) then three equally likely tokens; token 2 (p .4) then EOS with p .9.
        static float L(double p) => (float)Math.Log(p);
        BeamStepFunction model = (beams, logits) =>
        {
            for (int b = 0; b < beams.Count; b++)
            {
                var row = logits.Slice(b * 3, 3);
                var seq = beams[b];
                float[] probs = seq.Count == 0 ? [L(1e-9), L(0.6), L(0.4)]
                    : seq[0] == 2 ? [L(0.9), L(0.05), L(0.05)]
                    : [L(1 / 3.0), L(1 / 3.0), L(1 / 3.0)];
                probs.CopyTo(row);
            }
        };
        var o = new BeamSearchOptions { MaxTokens = 2, LengthPenalty = 0f, EndTokens = [Eos] };
        var greedy = BeamSearch.Run(3, model, o with { BeamWidth = 1 });
        var beam = BeamSearch.Run(3, model, o with { BeamWidth = 2 });
        Assert.Equal([1, 0], greedy[0].Tokens);
        Assert.Equal([2, 0], beam[0].Tokens);
        Assert.Equal(Math.Log(0.36), beam[0].Score, 5);
    }

    [Fact]
    public void Hypotheses_are_sorted_scored_and_at_most_the_beam_width()
    {
        Gen.Select(Gen.ULong, Gen.Int[1, 5], Gen.Double[0, 2], Gen.Bool).Sample((seed, width, alpha, early) =>
        {
            const int Vocab = 6;
            var model = HashedModel(Vocab, seed);
            var result = BeamSearch.Run(Vocab, model, new BeamSearchOptions
            {
                BeamWidth = width, MaxTokens = 5, LengthPenalty = (float)alpha, EndTokens = [Eos], EarlyStopping = early,
            });
            if (result.Count == 0 || result.Count > width) return false;
            for (int i = 0; i < result.Count; i++)
            {
                var h = result[i];
                double sum = 0;
                for (int t = 0; t < h.Tokens.Count; t++) sum += LogProb(model, Vocab, h.Tokens.Take(t).ToList(), h.Tokens[t]);
                bool ended = h.Tokens[^1] == Eos || h.Tokens.Count == 5;
                if (!ended || h.Tokens.Take(h.Tokens.Count - 1).Contains(Eos)) return false;
                if (Math.Abs(sum - h.SumLogprob) > 1e-4 || Math.Abs(h.Score - sum / Math.Pow(h.Tokens.Count, alpha)) > 1e-4) return false;
                if (i > 0 && result[i - 1].Score < h.Score) return false;
            }
            return true;
        }, iter: 60);
    }

    [Fact]
    public void Exact_stopping_is_never_worse_than_early_stopping()
    {
        Gen.Select(Gen.ULong, Gen.Int[1, 4]).Sample((seed, width) =>
        {
            const int Vocab = 5;
            var model = HashedModel(Vocab, seed);
            var o = new BeamSearchOptions { BeamWidth = width, MaxTokens = 6, LengthPenalty = 1f, EndTokens = [Eos] };
            var early = BeamSearch.Run(Vocab, model, o with { EarlyStopping = true });
            var exact = BeamSearch.Run(Vocab, model, o);
            return exact[0].Score >= early[0].Score - 1e-9;
        }, iter: 60);
    }

    [Fact]
    public void Bad_settings_and_logits_are_typed_errors()
    {
        BeamStepFunction nan = (_, logits) => logits.Fill(float.NaN);
        Assert.Throws<SamplingException>(() => BeamSearch.Run(3, nan, new BeamSearchOptions()));
        Assert.Throws<SamplingException>(() => BeamSearch.Run(3, HashedModel(3, 1), new BeamSearchOptions { BeamWidth = 0 }));
        Assert.Throws<SamplingException>(() => BeamSearch.Run(0, HashedModel(3, 1), new BeamSearchOptions()));
        Assert.Throws<SamplingException>(() => BeamSearch.Run(3, HashedModel(3, 1), new BeamSearchOptions { MaxTokens = 0 }));
    }
}
