using System.Text;
using Fathom.Sampling;
using Fathom.Tokenization;

namespace Fathom.Tests.Sampling.Grammar;

/// <summary>
/// Random logits (sampled through the chain) for a random number of steps, then a push towards the nearest
/// completion; every step must leave some token allowed and the run must end with an end-of-generation token
/// the grammar accepts. Shared by the schema and the forced-tool-call property tests.
/// </summary>
internal static class ConstrainedWalk
{
    public static byte[] Generate(GrammarConstraint c, Tokenizer tokenizer, byte[][] pieces, int seed, string context)
    {
        var rng = new Random(seed);
        var chain = new SamplerChain(new SamplingOptions { Temperature = 1f, Seed = (ulong)seed }, c);
        int n = tokenizer.VocabularySize;
        var logits = new float[n];
        var mask = new float[n];
        var history = new List<int>();
        var output = new List<byte>();
        int wander = rng.Next(0, 48);
        for (int step = 0; ; step++)
        {
            Assert.True(step < 3000, context + "no end after 3000 tokens");
            Array.Clear(mask);
            c.Mask(mask);
            Assert.True(mask.Any(x => !float.IsNegativeInfinity(x)), context + $"dead end after '{Encoding.UTF8.GetString([.. output])}'");
            if (step < wander)
            {
                for (int i = 0; i < n; i++)
                    logits[i] = rng.NextSingle() * 12f;
            }
            else
            {
                // finishing: prefer the allowed token that leaves the fewest bytes to a complete value
                for (int i = 0; i < n; i++)
                {
                    if (float.IsNegativeInfinity(mask[i]))
                    {
                        logits[i] = rng.NextSingle() * 12f;
                        continue;
                    }
                    int left = c.MinBytesToCompleteAfter(i);
                    Assert.True(left >= 0, context + $"mask allows {i} but the constraint does not");
                    logits[i] = -left * 50f + rng.NextSingle();
                }
            }
            int token = chain.Sample(logits, history.ToArray());
            Assert.False(float.IsNegativeInfinity(mask[token]), context + $"sampled a masked token {token}");
            history.Add(token);
            if (tokenizer.IsEndOfGeneration(token))
            {
                Assert.True(c.IsEnded, context + "ended without the grammar accepting the end");
                return [.. output];
            }
            output.AddRange(pieces[token]);
        }
    }
}
