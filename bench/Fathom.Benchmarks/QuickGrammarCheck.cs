using System.Diagnostics;
using Fathom.Gguf;
using Fathom.Sampling;
using Fathom.Tokenization;

namespace Fathom.Benchmarks;

/// <summary>
/// Grammar mask cost per token of <see cref="GrammarMaskBenchmarks"/>' nested-schema document, each mask timed on
/// its own: every run is a new constraint (cold, as each request gets), and each token's figure is its fastest of the
/// runs, to take out a loaded machine's noise. The max is the first mask of a state never seen (the worst case):
/// dotnet run -c Release --project bench/Fathom.Benchmarks -- grammar [runs]
/// </summary>
internal static class QuickGrammarCheck
{
    public static void Run(int runs)
    {
        foreach (string name in (string[])["llama-spm", "llama-bpe"])
        {
            using var gguf = GgufFile.Open(BenchPaths.Fixture("vocab", $"ggml-vocab-{name}.gguf"));
            var tokenizer = Tokenizer.FromGguf(gguf);
            var sw = Stopwatch.StartNew();
            var vocab = GrammarVocabulary.For(tokenizer);
            double build = sw.Elapsed.TotalMilliseconds;
            var grammar = JsonSchemaGrammar.Compile(GrammarMaskBenchmarks.Schema, new JsonSchemaGrammarOptions { AllowAdditionalPropertiesByDefault = false });
            int[] ids = GrammarMaskBenchmarks.LongestMatch(tokenizer, GrammarMaskBenchmarks.Document);
            var logits = new float[tokenizer.VocabularySize];
            var best = new double[ids.Length];
            Array.Fill(best, double.MaxValue);
            var accept = double.MaxValue;
            for (int run = 0; run < runs; run++)
            {
                var c = new GrammarConstraint(grammar, vocab);
                double acc = 0;
                for (int t = 0; t < ids.Length; t++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    c.Mask(logits);
                    long t1 = Stopwatch.GetTimestamp();
                    c.Accept(ids[t]);
                    acc += Stopwatch.GetElapsedTime(t1).TotalMilliseconds;
                    best[t] = Math.Min(best[t], Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                }
                accept = Math.Min(accept, acc / ids.Length);
            }
            var sorted = best.Order().ToArray();
            {
                var c = new GrammarConstraint(grammar, vocab);
                var text = new System.Text.StringBuilder();
                for (int t = 0; t < ids.Length; t++)
                {
                    Array.Fill(logits, 0f);
                    c.Mask(logits);
                    if (best[t] >= sorted[^6])
                        Console.WriteLine($"  token {t}: {best[t]:F3} ms, allowed {logits.Count(x => x == 0f)}, after ...{text.ToString()[Math.Max(0, text.Length - 30)..]}");
                    c.Accept(ids[t]);
                    text.Append(tokenizer.Decode([ids[t]], renderSpecial: false));
                }
            }
            int worst = Array.IndexOf(best, sorted[^1]);
            Console.WriteLine($"{name,-10} vocab {vocab.Count,7} nodes {vocab.NodeCount,8} tokens {ids.Length,4} build {build,6:F0} ms | mask mean {best.Average(),7:F3} ms  median {sorted[sorted.Length / 2],7:F3}  p90 {sorted[sorted.Length * 9 / 10],7:F3}  max {sorted[^1],7:F3} (token {worst})  sum {best.Sum(),7:F1} ms | accept {accept * 1e3,6:F1} us");
        }
    }
}
