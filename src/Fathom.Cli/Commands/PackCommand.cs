using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Fathom.Context;
using Fathom.Gguf;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>`fathom pack DIR`: a repository as one prompt within a token budget, counted with the model's tokenizer.</summary>
internal static class PackCommand
{
    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "Repository or directory to pack." };
        var model = new Option<FileInfo>("--model", "-m") { Description = "GGUF model: its tokenizer counts the tokens; its context (minus --reserve) is the default budget." };
        var vocab = new Option<FileInfo>("--vocab") { Description = "GGUF file whose tokenizer counts the tokens (a vocab-only GGUF will do), when no --model is given." };
        var budget = new Option<int?>("--budget") { Description = "Most tokens the output may take, wrappers included." };
        var reserve = new Option<int?>("--reserve") { Description = "Tokens kept free for the question and answer when the budget is the model's context (default: a quarter of it, at most 8192)." };
        var query = new Option<string>("--query", "-q") { Description = "Rank files relevant to this text first (BM25), blended with import centrality." };
        var include = new Option<string[]>("--include") { Description = "Only files matching this glob (gitignore syntax; repeatable)." };
        var exclude = new Option<string[]>("--exclude") { Description = "Leave out files or directories matching this glob (gitignore syntax; repeatable)." };
        var format = new Option<string>("--format") { Description = "xml (default) or markdown.", DefaultValueFactory = _ => "xml" };
        var output = new Option<FileInfo>("--output", "-o") { Description = "Write the pack here instead of stdout." };
        var maxBytes = new Option<long>("--max-file-bytes") { Description = "Skip files larger than this.", DefaultValueFactory = _ => 1 << 20 };
        var command = new Command("pack", "Pack a repository into one prompt within a token budget: dependencies first, most relevant files whole, outlines for the rest.")
        {
            dir, model, vocab, budget, reserve, query, include, exclude, format, output, maxBytes,
        };
        command.SetAction(parse =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var root = parse.GetValue(dir)!;
            if (!root.Exists)
                throw new CliUsageException($"directory '{root.FullName}' not found");
            var packFormat = parse.GetValue(format)!.ToLowerInvariant() switch
            {
                "xml" => PackFormat.Xml,
                "markdown" or "md" => PackFormat.Markdown,
                var f => throw new CliUsageException($"--format '{f}' is not xml or markdown"),
            };
            long maxFileBytes = parse.GetValue(maxBytes);
            if (maxFileBytes <= 0)
                throw new CliUsageException($"--max-file-bytes {maxFileBytes} must be positive");
            var (counter, tokens) = LoadCounter(parse.GetValue(model), parse.GetValue(vocab), parse.GetValue(budget), parse.GetValue(reserve));

            var file = parse.GetValue(output);
            var excludes = (parse.GetValue(exclude) ?? []).ToList();
            // An earlier pack written inside the tree must not be packed again.
            if (file is not null && OutputInside(root.FullName, file.FullName) is { } self)
                excludes.Add(self);
            var options = new PackOptions
            {
                Budget = tokens,
                Query = parse.GetValue(query),
                Format = packFormat,
                Walk = new WalkOptions
                {
                    Include = parse.GetValue(include) ?? [],
                    Exclude = excludes,
                    MaxFileBytes = maxFileBytes,
                },
            };
            bool interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
            var progress = interactive ? new TerminalProgress(stderr) : null;
            var clock = Stopwatch.StartNew();
            PackResult result;
            try
            {
                result = RepoPacker.Pack(root.FullName, counter, options, progress);
            }
            catch (Exception ex) when (ex is ContextBudgetException or ArgumentException)
            {
                throw new CliUsageException(ex.Message);
            }
            finally
            {
                progress?.Clear();
            }
            if (file is null)
            {
                parse.InvocationConfiguration.Output.Write(result.Output);
            }
            else
            {
                File.WriteAllText(file.FullName, result.Output, new UTF8Encoding(false));
            }
            Report(stderr, result, clock.Elapsed, file?.FullName);
            return CliHost.ExitOk;
        });
        return command;
    }

    /// <summary>The output file as an anchored, escaped exclude glob when it lies inside the packed tree.</summary>
    private static string? OutputInside(string root, string output)
    {
        string relative = Path.GetRelativePath(root, output);
        if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            return null;
        var sb = new StringBuilder("/");
        foreach (char c in relative.Replace(Path.DirectorySeparatorChar, '/'))
        {
            if (c is '*' or '?' or '[' or '\\' or '!' or '#' or ' ')
                sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static (ITokenCounter Counter, int Budget) LoadCounter(FileInfo? model, FileInfo? vocab, int? budget, int? reserve)
    {
        if (model is not null && vocab is not null)
            throw new CliUsageException("give --model or --vocab, not both");
        var source = model ?? vocab ?? throw new CliUsageException(
            "pack counts tokens with a model's tokenizer: give -m MODEL.gguf or --vocab VOCAB.gguf (tokens are never estimated from characters)");
        if (!source.Exists)
            throw new CliUsageException($"{(model is not null ? "model" : "vocab")} file '{source.FullName}' not found");
        using var gguf = GgufFile.Open(source.FullName);
        var counter = new TokenizerCounter(Tokenizer.FromGguf(gguf));
        if (budget is { } b)
        {
            if (b <= 0)
                throw new CliUsageException($"--budget {b} must be positive");
            return (counter, b);
        }
        if (model is null)
            throw new CliUsageException("--vocab needs --budget N (only a model has a context length)");
        string arch = gguf.GetStringOrNull(GgufKeys.General.Architecture) ?? throw new CliUsageException("the model names no general.architecture; give --budget");
        ulong context = gguf.GetUInt64OrNull(GgufKeys.Llm.ContextLength(arch)) ?? throw new CliUsageException($"the model has no {arch}.context_length; give --budget");
        int ctx = (int)Math.Min(context, int.MaxValue);
        int keep = reserve ?? Math.Min(8192, ctx / 4);
        try
        {
            return (counter, new TokenBudget(ctx, keep).Available);
        }
        catch (ContextBudgetException ex)
        {
            throw new CliUsageException(ex.Message);
        }
    }

    private static void Report(TextWriter stderr, PackResult result, TimeSpan elapsed, string? outputPath)
    {
        foreach (var f in result.Packed)
        {
            string how = f.As == PackedAs.Whole ? "whole  " : "outline";
            stderr.WriteLine($"  {how} {f.Tokens,8} tokens  {f.Path}" + (f.As == PackedAs.Outline ? $"  ({f.WholeTokens} whole)" : ""));
        }
        foreach (var d in result.Left)
            stderr.WriteLine($"  left   {d.Tokens,8} tokens  {d.Id}  ({d.Reason})");
        foreach (var group in result.Skipped.GroupBy(s => s.Reason).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var names = group.Select(s => s.Id).ToList();
            string list = string.Join(", ", names.Take(5)) + (names.Count > 5 ? $", … ({names.Count - 5} more)" : "");
            stderr.WriteLine($"  skipped {names.Count} ({group.Key}): {list}");
        }
        int whole = result.Packed.Count(p => p.As == PackedAs.Whole);
        int outlined = result.Packed.Count - whole;
        stderr.WriteLine($"packed {result.Packed.Count} of {result.FilesFound} files ({whole} whole, {outlined} outlined, {result.Left.Count} left out; "
            + $"{result.Skipped.Count} skipped by the walk; {result.ImportEdges} import edges): {result.Tokens:N0} of {result.Budget:N0} tokens, "
            + $"{Encoding.UTF8.GetByteCount(result.Output):N0} bytes{(outputPath is null ? "" : " → " + outputPath)} in {elapsed.TotalSeconds:F2} s");
    }

    /// <summary>A one-line progress display on an interactive terminal, overwritten in place.</summary>
    private sealed class TerminalProgress(TextWriter stderr) : IProgress<PackProgress>
    {
        private readonly Lock _lock = new();
        private long _last;

        public void Report(PackProgress value)
        {
            lock (_lock)
            {
                long now = Environment.TickCount64;
                if (now - _last < 100 && value.Done != value.Total)
                    return;
                _last = now;
                string text = value.Stage switch
                {
                    PackStage.Scanning => $"scanning: {value.Done} files",
                    PackStage.Counting => $"counting tokens: {value.Done}/{value.Total} files",
                    _ => $"packing: {value.Done} files",
                };
                stderr.Write("\r" + text.PadRight(50));
            }
        }

        public void Clear()
        {
            lock (_lock)
                stderr.Write("\r" + new string(' ', 50) + "\r");
        }
    }
}
