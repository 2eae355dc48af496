using System.CommandLine;
using System.Globalization;
using Fathom.Evaluation;
using Fathom.Gguf;
using Fathom.KvPolicies;
using Fathom.Models;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>`fathom eval kv`: the KV-policy quality harness (KL, top-1, perplexity, KV bytes per policy and budget).</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var eval = new Command("eval", "Quality evaluations.");
        eval.Subcommands.Add(CreateKv());
        return eval;
    }

    private static Command CreateKv()
    {
        var model = CliModel.ModelOption();
        var file = new Option<FileInfo>("--file", "-f") { Description = "Text to evaluate over (UTF-8).", Required = true };
        var policies = new Option<string>("--kv-policy") { Description = $"Policies, comma-separated, each NAME[:key=value…] ({string.Join(", ", KvPolicy.Names)}).", DefaultValueFactory = _ => "full,window,h2o,snapkv,quest,strided" };
        var budgets = new Option<string>("--budget") { Description = "KV budgets as fractions of the context, comma-separated (1/2 or 0.5).", DefaultValueFactory = _ => "1/2,1/4,1/8,1/16" };
        var keyTypes = new Option<string>("--cache-type-k", "-ctk") { Description = "Key element types, comma-separated (f32, f16, q8_0, q4_0); the first is used for the policy rows.", DefaultValueFactory = _ => "f16" };
        var valueTypes = new Option<string>("--cache-type-v", "-ctv") { Description = "Value element types, comma-separated.", DefaultValueFactory = _ => "f16" };
        var context = new Option<int>("--ctx-size", "-c") { Description = "Tokens per evaluated window.", DefaultValueFactory = _ => 4096 };
        var decode = new Option<int>("--decode-window") { Description = "Last positions of each window decoded one at a time under the policy and scored.", DefaultValueFactory = _ => 256 };
        var windows = new Option<int>("--windows") { Description = "Consecutive windows of the text to evaluate.", DefaultValueFactory = _ => 1 };
        var pageSize = new Option<int>("--page-size") { Description = "Positions per page for the page accounting.", DefaultValueFactory = _ => 16 };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var report = new Option<FileInfo?>("--report") { Description = "Write a markdown report here, with the SVG plot beside it (same name, .svg)." };
        var grid = new Option<string>("--kv-grid") { Description = "Which (K, V) type pairs the policy rows run with: first (the first -ctk and -ctv; other pairs with full only), separate (each K type with f16 V and each V type with f16 K), cross (all pairs).", DefaultValueFactory = _ => "first" };
        var spread = new Option<bool>("--spread") { Description = "Spread the --windows evenly over the whole text instead of taking consecutive windows from its start." };
        var needle = new Option<string?>("--needle") { Description = "Needle check: the text's last line is the question; greedy-decode under each policy and check that the continuation starts with this answer." };
        var command = new Command("kv", "KV-policy quality: per policy and budget, KL divergence and top-1 agreement of next-token distributions against full attention with f16 K/V, perplexity, KV bytes read per decode step and held.")
        {
            model, file, policies, budgets, keyTypes, valueTypes, context, decode, windows, pageSize, threads, report, needle, grid, spread,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            int t = parse.GetValue(threads), ctx = parse.GetValue(context), w = parse.GetValue(decode), nw = parse.GetValue(windows), page = parse.GetValue(pageSize);
            CliModel.CheckThreads(t);
            if (ctx < 8)
                throw new CliUsageException($"--ctx-size {ctx} must be at least 8");
            if (w < 1 || w >= ctx)
                throw new CliUsageException($"--decode-window {w} must be between 1 and --ctx-size − 1 ({ctx - 1})");
            if (nw < 1)
                throw new CliUsageException($"--windows {nw} must be at least 1");
            if (page < 1)
                throw new CliUsageException($"--page-size {page} must be at least 1");
            string[] specs = Split(parse.GetValue(policies)!, "--kv-policy");
            foreach (string s in specs)
            {
                try
                {
                    _ = KvPolicy.Create(s, ctx);
                }
                catch (ArgumentException e)
                {
                    throw new CliUsageException($"--kv-policy: {e.Message.Split(" (Parameter", StringSplitOptions.None)[0]}");
                }
            }
            double[] fractions = [.. Split(parse.GetValue(budgets)!, "--budget").Select(ParseFraction)];
            GgmlType[] kts = [.. Split(parse.GetValue(keyTypes)!, "--cache-type-k").Select(s => ParseType(s, "--cache-type-k"))];
            GgmlType[] vts = [.. Split(parse.GetValue(valueTypes)!, "--cache-type-v").Select(s => ParseType(s, "--cache-type-v"))];
            var typeGrid = parse.GetValue(grid)!.ToLowerInvariant() switch
            {
                "first" => KvTypeGrid.First,
                "separate" => KvTypeGrid.Separate,
                "cross" => KvTypeGrid.Cross,
                var g => throw new CliUsageException($"--kv-grid '{g}' must be first, separate or cross"),
            };
            var textFile = parse.GetValue(file)!;
            if (!textFile.Exists)
                throw new CliUsageException($"text file '{textFile.FullName}' not found");
            byte[] text = File.ReadAllBytes(textFile.FullName);

            using var m = Model.Load(CliModel.CheckModel(parse.GetValue(model)));
            var tokenizer = Tokenizer.FromGguf(m.File);
            var options = new KvEvalOptions
            {
                ContextLength = ctx, DecodeWindow = w, Policies = specs, Budgets = fractions, KeyTypes = kts, ValueTypes = vts,
                Windows = nw, Threads = t, PageSize = page,
            };
            if (parse.GetValue(needle) is { } answer)
                return RunNeedle(m, tokenizer, text, answer, options, stdout, stderr);

            int[] tokens = Perplexity.Tokenize(tokenizer, text);
            int stride = ctx;
            if (parse.GetValue(spread) && nw > 1)
            {
                stride = (tokens.Length - 1 - ctx) / (nw - 1);
                if (stride < 1)
                    throw new CliUsageException($"'{textFile.Name}' is {tokens.Length} tokens: too short to spread {nw} windows of {ctx}");
                options = options with { WindowStride = stride };
            }
            if (tokens.Length < (long)(nw - 1) * stride + ctx + 1)
                throw new CliUsageException($"'{textFile.Name}' is {tokens.Length} tokens; {nw} window(s) of {ctx} need at least {(long)nw * ctx + 1}");
            if (ctx > m.Config.ContextLength)
                stderr.WriteLine($"fathom: note: a context of {ctx} is beyond the model's trained context of {m.Config.ContextLength}");
            var pairs = KvEvalGrid.Pairs(options, typeGrid);
            stderr.WriteLine($"eval kv: {tokens.Length} tokens, {nw} window(s) of {ctx} {(stride == ctx ? "from the start" : $"every {stride} tokens")}, last {w} decoded under each policy, "
                + $"policies at {pairs.Count} K/V type pair(s), {t} threads");
            var result = KvEvalGrid.Run(m, tokens, Perplexity.ChunkBos(tokenizer), options, typeGrid, line => stderr.WriteLine($"  {line}"));
            string table = KvEvalReport.Markdown(result);
            if (typeGrid != KvTypeGrid.First)
                table += "\n" + KvEvalReport.TypeMatrix(result);
            stdout.Write(table);
            if (parse.GetValue(report) is { } reportFile)
            {
                string svgPath = Path.ChangeExtension(reportFile.FullName, ".svg");
                string title = $"{Path.GetFileName(m.File.Path ?? "model")} on {textFile.Name}: KL vs budget";
                // The plot keeps to f16 policy lines (and quantized full points): one line per policy and type pair would not read.
                var plotted = typeGrid == KvTypeGrid.First ? result
                    : result with { Rows = [.. result.Rows.Where(r => r.Policy == "full" || (r.KeyType == "F16" && r.ValueType == "F16"))] };
                File.WriteAllText(svgPath, KvEvalReport.Svg(plotted, title));
                File.WriteAllText(reportFile.FullName,
                    $"# KV policy quality\n\nModel `{Path.GetFileName(m.File.Path ?? "model")}`, text `{textFile.Name}` ({tokens.Length} tokens; windows start every {stride} tokens).\n\n![KL vs budget]({Path.GetFileName(svgPath)})\n\n{table}");
                stderr.WriteLine($"eval kv: wrote {reportFile.FullName} and {svgPath}");
            }
            return CliHost.ExitOk;
        });
        return command;
    }

    private static int RunNeedle(Model m, Tokenizer tokenizer, byte[] text, string answer, KvEvalOptions options, TextWriter stdout, TextWriter stderr)
    {
        int nl = Array.LastIndexOf(text, (byte)'\n');
        if (nl < 0)
            throw new CliUsageException("--needle: the text needs a last line holding the question");
        int[] body = Perplexity.Tokenize(tokenizer, text.AsSpan(0, nl + 1));
        int[] tail = tokenizer.Encode(text.AsSpan(nl + 1), addSpecial: false);
        int generate = tokenizer.Encode(answer, addSpecial: false).Length + 4;
        int keep = options.ContextLength - tail.Length - generate;
        if (tail.Length == 0 || keep < 8)
            throw new CliUsageException($"--needle: a context of {options.ContextLength} cannot hold the question ({tail.Length} tokens) and the answer");
        int[] prompt = [.. body.AsSpan(0, Math.Min(keep, body.Length)), .. tail];
        stderr.WriteLine($"eval kv --needle: prompt {prompt.Length} tokens (the first {Math.Min(keep, body.Length)} of {body.Length} of the text + the {tail.Length}-token last line), {generate} generated");
        stdout.WriteLine("| policy | budget | tokens | retrieved | continuation |");
        stdout.WriteLine("| --- | --- | ---: | --- | --- |");
        foreach (string spec in options.Policies)
        {
            bool full = KvPolicy.Create(spec, options.ContextLength).Name == "full";
            foreach (double f in full ? [1.0] : options.Budgets)
            {
                var row = KvEval.Needle(m, tokenizer, prompt, tail.Length, generate, answer, spec, f, options);
                string budget = f >= 1 ? "all" : string.Create(CultureInfo.InvariantCulture, $"1/{Math.Round(1 / f):0}");
                string shown = row.Continuation.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
                stdout.WriteLine($"| {row.Policy} | {budget} | {row.BudgetTokens} | {(row.Retrieved ? "yes" : "no")} | `{shown}` |");
            }
        }
        return CliHost.ExitOk;
    }

    private static string[] Split(string value, string option)
    {
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length > 0 ? parts : throw new CliUsageException($"{option} is empty");
    }

    private static double ParseFraction(string s)
    {
        double v;
        int slash = s.IndexOf('/', StringComparison.Ordinal);
        bool ok = slash < 0
            ? double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v)
            : TryDivide(s[..slash], s[(slash + 1)..], out v);
        if (!ok || !(v > 0 && v <= 1))
            throw new CliUsageException($"--budget: '{s}' is not a fraction in (0, 1]");
        return v;
    }

    private static bool TryDivide(string a, string b, out double v)
    {
        v = 0;
        if (!double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.TryParse(b, NumberStyles.Float, CultureInfo.InvariantCulture, out double y) || y == 0)
            return false;
        v = x / y;
        return true;
    }

    private static GgmlType ParseType(string s, string option) => s.ToLowerInvariant() switch
    {
        "f32" => GgmlType.F32,
        "f16" => GgmlType.F16,
        "q8_0" => GgmlType.Q8_0,
        "q4_0" => GgmlType.Q4_0,
        _ => throw new CliUsageException($"{option}: unknown KV cache type '{s}' (expected f32, f16, q8_0 or q4_0)"),
    };
}
