using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Fathom.Models;

namespace Fathom.Cli.Commands;

/// <summary>
/// `fathom bench`: prompt processing (p tokens in one batch) and generation (n single-token steps)
/// speed after d tokens already in the cache, mean ± stdev over r runs, like llama-bench.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CliModel.ModelOption();
        var prompt = new Option<string>("--n-prompt", "-p") { Description = "Prompt sizes to test (comma list; 0 skips).", DefaultValueFactory = _ => "512" };
        var gen = new Option<string>("--n-gen", "-n") { Description = "Generation lengths to test (comma list; 0 skips).", DefaultValueFactory = _ => "128" };
        var depth = new Option<string>("--n-depth", "-d") { Description = "Tokens already in the cache before each test (comma list).", DefaultValueFactory = _ => "0" };
        var threads = CliModel.ThreadsOption(2);
        var reps = new Option<int>("--repetitions", "-r") { Description = "Runs per test.", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "One JSON object per test (JSON Lines) instead of a table." };
        var parallel = new Option<string?>("--parallel") { Description = "Run through the engine with these many concurrent sequences (comma list, e.g. 1,4,16): aggregate decode tok/s, then TTFT with a cached --prefix." };
        var prefix = new Option<int>("--prefix") { Description = "With --parallel: prefix tokens of the cached-vs-cold time-to-first-token test (0 skips).", DefaultValueFactory = _ => 1024 };
        var interleave = new Option<bool>("--interleave") { Description = "Run the tests' repetitions in turn (run 1 of every test, then run 2, …), each depth in its own session kept at its depth: on a noisy machine runs of different depths are paired in time." };
        var fill = new Option<string>("--kv-fill") { Description = "How the depth is reached: real (prefill random tokens, once per depth) or synthetic (random keys and values written straight into the cache: valid for timing only).", DefaultValueFactory = _ => "real" };
        var command = new Command("bench", "Measure prompt-processing and generation speed (tokens/s), like llama-bench.")
        {
            model, prompt, gen, depth, threads, reps, json, interleave, fill, parallel, prefix,
        };
        var kv = new KvOptions();
        kv.AddTo(command);
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            int t = parse.GetValue(threads), r = parse.GetValue(reps);
            CliModel.CheckThreads(t);
            if (r < 1)
                throw new CliUsageException($"--repetitions {r} must be at least 1");
            string fillMode = parse.GetValue(fill)!;
            if (fillMode is not ("real" or "synthetic"))
                throw new CliUsageException($"--kv-fill '{fillMode}' must be real or synthetic");
            bool synthetic = fillMode == "synthetic";
            int[] prompts = Sizes(parse.GetValue(prompt)!, "--n-prompt"), gens = Sizes(parse.GetValue(gen)!, "--n-gen"), depths = Sizes(parse.GetValue(depth)!, "--n-depth");
            string path = CliModel.CheckModel(parse.GetValue(model));
            if (parse.GetValue(parallel) is { } par)
            {
                if (parse.GetValue(interleave))
                    throw new CliUsageException("--interleave does not combine with --parallel (the engine runs its sequences together already)");
                return EngineBench.Run(path, Sizes(par, "--parallel"), gens[0], parse.GetValue(prefix), t, r, stdout, stderr);
            }
            using var m = Model.Load(path);
            var tests = new List<(int P, int N, int D)>();
            foreach (int d in depths)
            {
                tests.AddRange(prompts.Where(p => p > 0).Select(p => (p, 0, d)));
                tests.AddRange(gens.Where(n => n > 0).Select(n => (0, n, d)));
            }
            if (tests.Count == 0)
                throw new CliUsageException("nothing to test: every --n-prompt and --n-gen is 0");
            int ctx = tests.Max(x => x.D + x.P + x.N);
            if (ctx > m.Config.ContextLength)
                stderr.WriteLine($"fathom: note: testing {ctx} positions, beyond the model's trained context of {m.Config.ContextLength}");

            string name = Path.GetFileNameWithoutExtension(path);
            double sizeMiB = new FileInfo(path).Length / (1024.0 * 1024.0);
            long parameters = m.File.ParameterCount;
            bool progress = !Console.IsErrorRedirected;
            if (!parse.GetValue(json))
            {
                stdout.WriteLine("| model | size | params | backend | threads | test | t/s |");
                stdout.WriteLine("| --- | ---: | ---: | --- | ---: | ---: | ---: |");
            }

            var options = kv.Build(parse, ctx, t);
            bool interleaved = parse.GetValue(interleave);
            // One session, or with --interleave one per depth (each keeps its cache at its depth between turns).
            var runners = new Dictionary<int, Runner>();
            try
            {
                Runner RunnerFor(int d)
                {
                    int key = interleaved ? d : 0;
                    if (!runners.TryGetValue(key, out var runner))
                    {
                        runner = new Runner(m.CreateSession(options), synthetic, m.Config.VocabSize, ctx);
                        runners[key] = runner;
                    }
                    return runner;
                }

                var first = RunnerFor(tests[0].D);
                string policyName = first.Session.KvPolicy is { } pol ? $"{pol.Name} {pol.Parameters}" : "full";
                if (synthetic && first.Session.KvPolicy is { } sp && (sp.NeedsPrefillColumnSums || sp.ObservationWindow > 0))
                    throw new CliUsageException($"--kv-fill synthetic does not combine with --kv-policy {sp.Name}: it needs the prefill's attention scores");

                string Label(int p, int n, int d) => (p > 0 ? $"pp{p}" : $"tg{n}") + (d > 0 ? $" @ d{d}" : "") + (synthetic && d > 0 ? " (synthetic KV)" : "")
                    + (first.Session.KvPolicy is { } kp ? $" {kp.Name}" : "");
                var speeds = tests.Select(_ => new double[r]).ToArray();
                // Each test's decode attention by phase, over its timed runs (the tiled path only).
                var timings = tests.Select(_ => new Attention.AttentionTiming()).ToArray();

                // One timed run of test i.
                void Run(int i, int run)
                {
                    var (p, n, d) = tests[i];
                    if (progress)
                        stderr.Write($"\r{Label(p, n, d)}: run {run + 1}/{r}…   ");
                    var runner = RunnerFor(d);
                    runner.AtDepth(d);
                    // The test's timing is attached for the timed step only (not the fill or the warm-up).
                    var sequence = runner.Session.Sequence;
                    sequence.Timing = timings[i];
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        runner.Step(p, n);
                    }
                    finally
                    {
                        sequence.Timing = null;
                    }
                    speeds[i][run] = (p + n) / clock.Elapsed.TotalSeconds;
                    if (progress)
                        stderr.Write("\r" + new string(' ', Label(p, n, d).Length + 20) + "\r");
                }

                // A warm-up step of the test itself (as llama-bench's warm-up run): the decode and at-depth paths are
                // compiled and their pages touched before the clock starts; the cache is rewound (or re-filled) after.
                void Warm(int i)
                {
                    var (p, n, d) = tests[i];
                    var runner = RunnerFor(d);
                    runner.AtDepth(d);
                    runner.Step(Math.Min(p, 64), Math.Min(n, 8));
                }

                // Mean milliseconds per token over test i's timed runs (the same weighting as the attention's sums).
                double MsPerToken(int i) => speeds[i].Average(x => 1000.0 / x);

                // Mean attention milliseconds per generated token over test i's timed runs (a decode test's).
                double AttentionMsPerToken(int i) => timings[i].Total.TotalMilliseconds / (r * tests[i].N);

                // With --interleave, the same test at depth 0 for a test at depth (when both ran), else -1.
                int ZeroOf(int i)
                {
                    var (p, n, d) = tests[i];
                    return interleaved && d > 0 ? tests.IndexOf((p, n, 0)) : -1;
                }

                // With --interleave, a test at depth against the same test at depth 0 (when both ran).
                DepthRatio? VersusZero(int i) => ZeroOf(i) is var zero and >= 0 ? DepthRatio.Of(speeds[zero], speeds[i]) : null;

                // A decode test at depth against depth 0 with the rest of the step held at depth 0's: depth 0's step over
                // that step plus the attention's extra time per token. The rest does the same work at both depths, so this
                // is the ratio the attention alone makes, whatever the machine did to the rest meanwhile.
                double? AttentionRatio(int i)
                {
                    var (p, n, _) = tests[i];
                    int zero = ZeroOf(i);
                    if (zero < 0 || p != 0 || n == 0 || timings[i].Calls == 0 || timings[zero].Calls == 0)
                        return null;
                    double step0 = MsPerToken(zero);
                    return step0 / (step0 + AttentionMsPerToken(i) - AttentionMsPerToken(zero));
                }

                void Report(int i)
                {
                    var (p, n, d) = tests[i];
                    var session = RunnerFor(d).Session;
                    double mean = speeds[i].Average();
                    double stdev = r > 1 ? Math.Sqrt(speeds[i].Sum(s => (s - mean) * (s - mean)) / (r - 1)) : 0;
                    if (parse.GetValue(json))
                    {
                        var record = new Dictionary<string, object>
                        {
                            ["model"] = name,
                            ["model_size"] = new FileInfo(path).Length,
                            ["model_n_params"] = parameters,
                            ["n_threads"] = t,
                            ["n_prompt"] = p,
                            ["n_gen"] = n,
                            ["n_depth"] = d,
                            ["kv_fill"] = d > 0 ? fillMode : "none",
                            ["kv_policy"] = policyName,
                            ["avg_ts"] = Math.Round(mean, 3),
                            ["stddev_ts"] = Math.Round(stdev, 3),
                            ["samples_ts"] = speeds[i].Select(s => Math.Round(s, 3)).ToArray(),
                            ["ms_per_token"] = Math.Round(MsPerToken(i), 3),
                            ["interleaved"] = interleaved,
                            ["type_k"] = KvCache.KvTypes.Name(session.Sequence.KeyType),
                            ["type_v"] = KvCache.KvTypes.Name(session.Sequence.ValueType),
                            ["kv_bytes"] = session.KvCache.Accounting.BytesUsed,
                            ["peak_rss_bytes"] = PeakRss(),
                        };
                        if (timings[i].Calls > 0)
                        {
                            var at = timings[i];
                            record["attention_us_per_call"] = new Dictionary<string, object>
                            {
                                ["calls"] = at.Calls,
                                ["page_choice"] = Math.Round(at.PageChoice.TotalMicroseconds / at.Calls, 2),
                                ["gather"] = Math.Round(at.Gather.TotalMicroseconds / at.Calls, 2),
                                ["fold"] = Math.Round(at.Fold.TotalMicroseconds / at.Calls, 2),
                                ["merge"] = Math.Round(at.Merge.TotalMicroseconds / at.Calls, 2),
                            };
                            if (n > 0)
                                record["attention_ms_per_token"] = Math.Round(AttentionMsPerToken(i), 3);
                        }
                        if (VersusZero(i) is { } vs)
                        {
                            record["vs_depth0"] = new Dictionary<string, double>
                            {
                                ["pair_median"] = Math.Round(vs.PairMedian, 4),
                                ["pair_min"] = Math.Round(vs.PairMin, 4),
                                ["pair_max"] = Math.Round(vs.PairMax, 4),
                                ["best"] = Math.Round(vs.Best, 4),
                            };
                            if (AttentionRatio(i) is { } ar)
                                ((Dictionary<string, double>)record["vs_depth0"])["attention_only"] = Math.Round(ar, 4);
                        }
                        stdout.WriteLine(JsonSerializer.Serialize(record));
                    }
                    else
                    {
                        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"| {name} | {sizeMiB:F2} MiB | {parameters / 1e6:F2} M | CPU | {t} | {Label(p, n, d)} | {mean:F2} ± {stdev:F2} |"));
                    }
                    stdout.Flush();
                }

                if (interleaved)
                {
                    // Every test warmed, then run k of each test in turn: the tests' runs are paired in time.
                    for (int i = 0; i < tests.Count; i++)
                        Warm(i);
                    for (int run = 0; run < r; run++)
                    {
                        for (int i = 0; i < tests.Count; i++)
                            Run(i, run);
                    }
                    for (int i = 0; i < tests.Count; i++)
                        Report(i);
                }
                else
                {
                    for (int i = 0; i < tests.Count; i++)
                    {
                        Warm(i);
                        for (int run = 0; run < r; run++)
                            Run(i, run);
                        Report(i);
                    }
                }
                if (!parse.GetValue(json))
                {
                    for (int i = 0; i < tests.Count; i++)
                    {
                        if (VersusZero(i) is { } vs)
                        {
                            var (p, n, d) = tests[i];
                            string own = AttentionRatio(i) is { } ar
                                ? string.Create(CultureInfo.InvariantCulture, $"; the attention's own ratio {ar:P1} (depth 0's step against it plus the attention's extra time)")
                                : "";
                            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                $"{Label(p, n, d)} against depth 0: {vs.PairMedian:P1} (median of {r} interleaved pairs, {vs.PairMin:P1}–{vs.PairMax:P1}); best run against best run {vs.Best:P1}{own}"));
                        }
                    }
                    for (int i = 0; i < tests.Count; i++)
                    {
                        var (p, n, d) = tests[i];
                        var at = timings[i];
                        if (at.Calls == 0 || n == 0)
                            continue;
                        double Us(TimeSpan x) => x.TotalMicroseconds / at.Calls;
                        double attention = AttentionMsPerToken(i);
                        // A decode test's whole step beside its attention: at depth, what is not attention should cost
                        // what it costs at depth 0, and when it does not the machine (not the attention) moved the ratio.
                        string step = p == 0 ? string.Create(CultureInfo.InvariantCulture,
                            $"; the whole step {MsPerToken(i):F2} ms, the rest of it {MsPerToken(i) - attention:F2} ms") : "";
                        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{Label(p, n, d)} attention per layer call: page choice {Us(at.PageChoice):F1} µs, gather {Us(at.Gather):F1} µs, fold {Us(at.Fold):F1} µs, merge {Us(at.Merge):F1} µs ({attention:F2} ms per token{step})"));
                    }
                    long kvBytes = runners.Values.Sum(x => x.Session.KvCache.Accounting.BytesUsed);
                    stderr.WriteLine($"peak RSS: {PeakRss() / (1024.0 * 1024.0):F1} MiB (KV cache {kvBytes / (1024.0 * 1024.0):F1} MiB)");
                }
            }
            finally
            {
                foreach (var runner in runners.Values)
                    runner.Session.Dispose();
            }
            return CliHost.ExitOk;
        });
        return command;
    }

    /// <summary>One session under test: fills its cache to a depth (once; later runs rewind to it) and runs steps of random tokens.</summary>
    private sealed class Runner
    {
        private readonly bool _synthetic;
        private readonly int _vocab;
        private readonly Random _random = new(42);
        private int _filled = -1;

        public Runner(ModelSession session, bool synthetic, int vocab, int context)
        {
            Session = session;
            _synthetic = synthetic;
            _vocab = vocab;
            // Warm-up: JIT, worker threads and page faults of the mapped weights, not timed.
            session.Forward(Tokens(Math.Min(32, context)));
            session.Reset();
        }

        public ModelSession Session { get; }

        private int[] Tokens(int count)
        {
            var ids = new int[count];
            for (int i = 0; i < count; i++)
                ids[i] = _random.Next(_vocab);
            return ids;
        }

        // The cache at depth d: rewound to it, or filled again after a policy evicted.
        public void AtDepth(int d)
        {
            if (_filled == d && Session.KvEvictedSlots == 0)
            {
                Session.Rewind(d);
                return;
            }
            Session.Reset();
            if (_synthetic)
                SyntheticFill(Session, d);
            else
            {
                for (int i = 0; i < d; i += 512)
                    Session.Forward(Tokens(Math.Min(512, d - i)));
            }
            _filled = d;
            // A fill leaves garbage (a refill after a policy evicted drops the whole previous cache): collect it now,
            // untimed, so the collector does not run inside the timed step.
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        // A prefill of p tokens, or n decode steps.
        public void Step(int p, int n)
        {
            if (p > 0)
                Session.Forward(Tokens(p));
            else
            {
                foreach (int id in Tokens(n))
                    Session.Forward([id]);
            }
        }
    }

    // Random keys and values for positions 0..depth-1 of every layer, written straight into the cache: the
    // attention reads the same bytes as after a real prefill, so decode timing is valid; the text is not.
    private static void SyntheticFill(ModelSession session, int depth)
    {
        var seq = session.Sequence;
        int kw = seq.KeyWidth, vw = seq.ValueWidth, rows = 257;
        var random = new Random(7);
        var keys = new float[rows * kw];
        var values = new float[rows * vw];
        for (int i = 0; i < keys.Length; i++)
            keys[i] = random.NextSingle() * 2 - 1;
        for (int i = 0; i < values.Length; i++)
            values[i] = random.NextSingle() * 2 - 1;
        for (int l = 0; l < seq.LayerCount; l++)
        {
            for (int pos = 0; pos < depth; pos++)
            {
                int row = (pos * 31 + l) % rows;
                seq.Store(l, pos, keys.AsSpan(row * kw, kw), values.AsSpan(row * vw, vw));
            }
        }
        session.Rewind(depth);
    }

    /// <summary>Peak resident set of this process (VmHWM on Linux).</summary>
    internal static long PeakRss()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.PeakWorkingSet64;
    }

    private static int[] Sizes(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
            throw new CliUsageException($"{option} needs at least one number");
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] > 1 << 20)
                throw new CliUsageException($"{option}: '{parts[i]}' is not a count between 0 and {1 << 20}");
        }
        return sizes;
    }
}
