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
        var fill = new Option<string>("--kv-fill") { Description = "How the depth is reached: real (prefill random tokens, once per depth) or synthetic (random keys and values written straight into the cache: valid for timing only).", DefaultValueFactory = _ => "real" };
        var command = new Command("bench", "Measure prompt-processing and generation speed (tokens/s), like llama-bench.")
        {
            model, prompt, gen, depth, threads, reps, json, fill, parallel, prefix,
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
                return EngineBench.Run(path, Sizes(par, "--parallel"), gens[0], parse.GetValue(prefix), t, r, stdout, stderr);
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
            using var session = m.CreateSession(options);
            string policyName = session.KvPolicy is { } pol ? $"{pol.Name} {pol.Parameters}" : "full";
            if (synthetic && session.KvPolicy is { } sp && (sp.NeedsPrefillColumnSums || sp.ObservationWindow > 0))
                throw new CliUsageException($"--kv-fill synthetic does not combine with --kv-policy {sp.Name}: it needs the prefill's attention scores");
            var random = new Random(42);
            int vocab = m.Config.VocabSize;
            int[] Tokens(int count)
            {
                var ids = new int[count];
                for (int i = 0; i < count; i++)
                    ids[i] = random.Next(vocab);
                return ids;
            }

            // Warm-up: JIT, worker threads and page faults of the mapped weights, not timed.
            session.Forward(Tokens(Math.Min(32, ctx)));
            session.Reset();

            // The depth is filled once and each run rewinds to it (re-filled only after a policy evicted).
            int filled = -1;
            void Fill(int d)
            {
                session.Reset();
                if (synthetic)
                    SyntheticFill(session, d);
                else
                {
                    for (int i = 0; i < d; i += 512)
                        session.Forward(Tokens(Math.Min(512, d - i)));
                }
                filled = d;
            }

            // The cache at depth d: rewound to it, or filled again after a policy evicted.
            void AtDepth(int d)
            {
                if (filled == d && session.KvEvictedSlots == 0)
                    session.Rewind(d);
                else
                    Fill(d);
            }

            // A prefill of p tokens, or n decode steps.
            void Step(int p, int n)
            {
                if (p > 0)
                    session.Forward(Tokens(p));
                else
                {
                    foreach (int id in Tokens(n))
                        session.Forward([id]);
                }
            }

            foreach (var (p, n, d) in tests)
            {
                string label = (p > 0 ? $"pp{p}" : $"tg{n}") + (d > 0 ? $" @ d{d}" : "") + (synthetic && d > 0 ? " (synthetic KV)" : "")
                    + (session.KvPolicy is { } kp ? $" {kp.Name}" : "");
                var speeds = new double[r];
                // A warm-up step of the test itself (as llama-bench's warm-up run): the decode and at-depth paths are
                // compiled and their pages touched before the clock starts; the cache is rewound (or re-filled) after.
                AtDepth(d);
                Step(Math.Min(p, 64), Math.Min(n, 8));
                for (int run = 0; run < r; run++)
                {
                    if (progress)
                        stderr.Write($"\r{label}: run {run + 1}/{r}…   ");
                    AtDepth(d);
                    var clock = Stopwatch.StartNew();
                    Step(p, n);
                    speeds[run] = (p + n) / clock.Elapsed.TotalSeconds;
                }
                if (progress)
                    stderr.Write("\r" + new string(' ', label.Length + 20) + "\r");
                double mean = speeds.Average();
                double stdev = r > 1 ? Math.Sqrt(speeds.Sum(s => (s - mean) * (s - mean)) / (r - 1)) : 0;
                if (parse.GetValue(json))
                {
                    stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
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
                        ["type_k"] = KvCache.KvTypes.Name(session.Sequence.KeyType),
                        ["type_v"] = KvCache.KvTypes.Name(session.Sequence.ValueType),
                        ["kv_bytes"] = session.KvCache.Accounting.BytesUsed,
                        ["peak_rss_bytes"] = PeakRss(),
                    }));
                }
                else
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {name} | {sizeMiB:F2} MiB | {parameters / 1e6:F2} M | CPU | {t} | {label} | {mean:F2} ± {stdev:F2} |"));
                }
                stdout.Flush();
            }
            if (!parse.GetValue(json))
                stderr.WriteLine($"peak RSS: {PeakRss() / (1024.0 * 1024.0):F1} MiB (KV cache {session.KvCache.Accounting.BytesUsed / (1024.0 * 1024.0):F1} MiB)");
            return CliHost.ExitOk;
        });
        return command;
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
