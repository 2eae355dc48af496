using System.Diagnostics;
using System.Globalization;
using Fathom.Engine;
using Fathom.Models;
using Fathom.Sampling;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>
/// `fathom bench --parallel N,…`: the engine under N concurrent generations (continuous batching) —
/// aggregate decode tok/s while all N decode together — and time to first token of a request whose
/// long prefix is in the prefix cache against the same request cold.
/// </summary>
internal static class EngineBench
{
    private const int PromptTokens = 16;

    public static int Run(string path, int[] parallel, int gen, int prefix, int threads, int reps, TextWriter stdout, TextWriter stderr)
    {
        if (parallel.Length == 0 || parallel.Any(n => n < 1 || n > 256))
            throw new CliUsageException("--parallel needs sequence counts between 1 and 256");
        if (gen < 4)
            throw new CliUsageException("--parallel measures decoding: --n-gen must be at least 4");
        using var model = Model.Load(path);
        var tokenizer = Tokenizer.FromGguf(model.File);
        var random = new Random(42);
        int vocab = model.Config.VocabSize;
        // End-of-generation is banned so every sequence decodes exactly --n-gen tokens.
        var sampling = SamplingOptions.Greedy with { LogitBias = tokenizer.EndOfGeneration.ToDictionary(id => id, _ => -1e30f) };
        int[] Tokens(int count) => [.. Enumerable.Range(0, count).Select(_ => random.Next(vocab))];
        string name = Path.GetFileNameWithoutExtension(path);

        stdout.WriteLine("| model | threads | test | result |");
        stdout.WriteLine("| --- | ---: | --- | ---: |");
        int ctx = Math.Max(PromptTokens + gen + 1, prefix + 64);
        foreach (int n in parallel)
        {
            var options = new EngineOptions { ContextLength = ctx, Threads = threads, MaxSequences = n, MaxBatchTokens = 512, KvPages = n * ((PromptTokens + gen + 16) / 16 + 1) + 64 };
            using var engine = new InferenceEngine(model, tokenizer, null, options);
            engine.GenerateAsync(new GenerationRequest { PromptTokens = Tokens(8), MaxTokens = 2, Sampling = sampling }).GetAwaiter().GetResult();
            var wall = new double[reps];
            var cpu = new double[reps];
            for (int run = 0; run < reps; run++)
                (wall[run], cpu[run]) = Decode(engine, n, gen, sampling, Tokens);
            Row(stdout, name, threads, $"decode, {n} concurrent (aggregate tok/s)", wall);
            Row(stdout, name, threads, $"decode, {n} concurrent (aggregate tok per CPU-second)", cpu);
            if (engine.Stats.PagesInUse != 0)
                stderr.WriteLine($"fathom: warning: {engine.Stats.PagesInUse} pages still in use after the run");
        }

        if (prefix > 0)
        {
            var options = new EngineOptions { ContextLength = ctx, Threads = threads, MaxSequences = 1, MaxBatchTokens = 512, KvPages = 2 * (ctx / 16 + 1) };
            using var engine = new InferenceEngine(model, tokenizer, null, options);
            var cold = new double[reps];
            var warm = new double[reps];
            int cached = 0;
            for (int run = 0; run < reps; run++)
            {
                var shared = Tokens(prefix);
                cold[run] = FirstToken(engine, [.. shared, .. Tokens(16)], sampling, out _);
                warm[run] = FirstToken(engine, [.. shared, .. Tokens(16)], sampling, out cached);
            }
            Row(stdout, name, threads, $"TTFT, {prefix}+16 tokens, cold (ms)", cold);
            Row(stdout, name, threads, $"TTFT, {prefix}+16 tokens, {cached} cached (ms)", warm);
        }
        return CliHost.ExitOk;
    }

    /// <summary>
    /// Tokens summed over the window in which all <paramref name="n"/> sequences were decoding, per second
    /// of wall time and per second of this process's CPU time (which a loaded machine distorts less).
    /// </summary>
    private static (double Wall, double Cpu) Decode(InferenceEngine engine, int n, int gen, SamplingOptions sampling, Func<int, int[]> tokens)
    {
        var clock = Stopwatch.StartNew();
        var prompts = Enumerable.Range(0, n).Select(_ => tokens(PromptTokens)).ToArray();
        var tasks = prompts.Select(p => Task.Run(async () =>
        {
            var at = new List<(double Wall, double Cpu)>();
            await foreach (var u in engine.Submit(new GenerationRequest { PromptTokens = p, MaxTokens = gen, Sampling = sampling }))
            {
                for (int i = 0; i < u.TokenIds.Count; i++)
                    at.Add((clock.Elapsed.TotalSeconds, Cpu()));
            }
            return at;
        })).ToArray();
        var times = Task.WhenAll(tasks).GetAwaiter().GetResult();
        var start = times.Select(t => t[0]).MaxBy(x => x.Wall);
        var end = times.Select(t => t[^1]).MinBy(x => x.Wall);
        int count = times.Sum(t => t.Count(x => x.Wall > start.Wall && x.Wall <= end.Wall));
        return (end.Wall > start.Wall ? count / (end.Wall - start.Wall) : 0, end.Cpu > start.Cpu ? count / (end.Cpu - start.Cpu) : 0);
    }

    private static double Cpu()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    private static double FirstToken(InferenceEngine engine, int[] prompt, SamplingOptions sampling, out int cached)
    {
        var clock = Stopwatch.StartNew();
        double first = 0;
        cached = 0;
        foreach (var u in engine.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 2, Sampling = sampling }).ToBlockingEnumerable())
        {
            if (first == 0 && u.TokenIds.Count > 0)
                first = clock.Elapsed.TotalMilliseconds;
            if (u.Usage is { } usage)
                cached = usage.CachedInputTokens;
        }
        return first;
    }

    private static void Row(TextWriter stdout, string name, int threads, string test, double[] values)
    {
        double mean = values.Average();
        double sd = values.Length > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1)) : 0;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {threads} | {test} | {mean:F2} ± {sd:F2} |"));
        stdout.Flush();
    }
}
