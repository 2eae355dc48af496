using System.Diagnostics;
using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Sampling;
using Fathom.Tokenization;

namespace Fathom.Benchmarks;

/// <summary>
/// Grammar mask cost per token of <see cref="GrammarMaskBenchmarks"/>' nested-schema document, each mask timed on
/// its own, in wall time and in this thread's CPU time (robust on a loaded machine): every run is a new constraint
/// (cold, as each request gets), and each token's figure is its fastest of the runs. The max is the first mask of a
/// state never seen (the worst case); the slowest masks are listed with the text before them:
/// dotnet run -c Release --project bench/Fathom.Benchmarks -- grammar [runs]
/// </summary>
internal static partial class QuickGrammarCheck
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
            var wall = new double[ids.Length];
            var cpu = new double[ids.Length];
            Array.Fill(wall, double.MaxValue);
            Array.Fill(cpu, double.MaxValue);
            for (int run = 0; run < runs; run++)
            {
                var c = new GrammarConstraint(grammar, vocab);
                for (int t = 0; t < ids.Length; t++)
                {
                    double c0 = ThreadCpuMs();
                    long t0 = Stopwatch.GetTimestamp();
                    c.Mask(logits);
                    long t1 = Stopwatch.GetTimestamp();
                    double c1 = ThreadCpuMs();
                    c.Accept(ids[t]);
                    wall[t] = Math.Min(wall[t], Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                    cpu[t] = Math.Min(cpu[t], c1 - c0);
                }
            }
            Console.WriteLine($"{name} vocab {vocab.Count} trie nodes {vocab.NodeCount} tokens {ids.Length} trie build {build:F0} ms");
            Console.WriteLine($"  wall ms: {Stats(wall)}");
            Console.WriteLine($"  cpu  ms: {Stats(cpu)}");
            var text = new System.Text.StringBuilder();
            double cut = cpu.Order().ToArray()[^Math.Min(4, ids.Length)];

            for (int t = 0; t < ids.Length; t++)
            {
                if (cpu[t] >= cut)
                    Console.WriteLine($"  token {t,3}: cpu {cpu[t]:F3} ms wall {wall[t]:F3} ms after ...{text.ToString()[Math.Max(0, text.Length - 24)..]}");
                text.Append(tokenizer.Decode([ids[t]], renderSpecial: false));
            }
        }
    }

    private static string Stats(double[] ms)
    {
        var s = ms.Order().ToArray();
        return $"mean {ms.Average():F3}  median {s[s.Length / 2]:F3}  p90 {s[s.Length * 9 / 10]:F3}  max {s[^1]:F3}  sum {ms.Sum():F1}";
    }

    private static double ThreadCpuMs()
    {
        ClockGetTime(3, out var ts); // CLOCK_THREAD_CPUTIME_ID
        return ts.Seconds * 1e3 + ts.Nanoseconds * 1e-6;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
