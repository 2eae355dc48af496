using System.Text;

namespace Fathom.Context;

public enum PackFormat
{
    Xml,
    Markdown,
}

/// <summary>How a file went into the pack.</summary>
public enum PackedAs
{
    Whole,
    Outline,
}

public enum PackStage
{
    Scanning,
    Counting,
    Packing,
}

/// <summary>Progress of a pack: files scanned, or files counted out of <see cref="Total"/>.</summary>
public readonly record struct PackProgress(PackStage Stage, int Done, int Total);

public sealed record PackOptions
{
    /// <summary>Most tokens the whole output may take, wrappers included.</summary>
    public required int Budget { get; init; }

    /// <summary>Files relevant to this text (BM25) rank first; without it, the most imported files do.</summary>
    public string? Query { get; init; }

    public PackFormat Format { get; init; } = PackFormat.Xml;

    public WalkOptions Walk { get; init; } = new();

    /// <summary>The repository's name in the output header (default: the directory's name).</summary>
    public string? Name { get; init; }
}

/// <summary>A file in the pack: how, its tokens as packed, its tokens whole, and its rank score.</summary>
public sealed record PackedFile(string Path, PackedAs As, int Tokens, int WholeTokens, double Score);

/// <summary>
/// The pack: <see cref="Output"/> is at most <see cref="Budget"/> tokens (<see cref="Tokens"/> counted on the whole
/// text). <see cref="Packed"/> is in output order; <see cref="Left"/> lists files that did not fit, <see cref="Skipped"/>
/// files the walk left out; each with why.
/// </summary>
public sealed record PackResult(
    string Output, int Tokens, int Budget, IReadOnlyList<PackedFile> Packed, IReadOnlyList<DroppedItem> Left,
    IReadOnlyList<DroppedItem> Skipped, int FilesFound, int ImportEdges);

/// <summary>
/// Packs a repository into one prompt: walks it (<see cref="RepoWalker"/>), ranks files by query relevance (BM25) plus
/// import-graph centrality (PageRank), takes each file whole if it fits, else its <see cref="Outline"/>, else leaves it
/// out, and writes the chosen files in dependency order (imports before their users). The result is counted with the
/// model's tokenizer as one text and is never over budget. Output is byte-identical across runs.
/// </summary>
public static class RepoPacker
{
    private const double QueryWeight = 0.7;

    /// <param name="counter">Must be safe to call from several threads (the <see cref="Fathom.Tokenization.Tokenizer"/> is).</param>
    public static PackResult Pack(string root, ITokenCounter counter, PackOptions options, IProgress<PackProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(options);
        var scanProgress = progress is null ? null : new Relay(n => progress.Report(new PackProgress(PackStage.Scanning, n, 0)));
        var scan = RepoWalker.Walk(root, options.Walk, scanProgress, cancellation);
        string name = options.Name ?? new DirectoryInfo(root).Name;
        return Pack(scan, name, counter, options, progress, cancellation);
    }

    /// <summary>Packs files already read (sorted or not); the walk's skipped list is carried into the result.</summary>
    public static PackResult Pack(RepoScan scan, string name, ITokenCounter counter, PackOptions options, IProgress<PackProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(scan);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(counter);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Budget <= 0)
            throw new ContextBudgetException($"budget {options.Budget} must be positive");
        var files = scan.Files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        var render = new Renderer(options.Format, name);
        int n = files.Count;

        var graph = ImportGraph.Build(files);
        double[] score = Rank(files, graph, options.Query);
        int[] rankOrder = Enumerable.Range(0, n).ToArray();
        Array.Sort(rankOrder, (a, b) =>
        {
            int c = score[b].CompareTo(score[a]);
            return c != 0 ? c : string.CompareOrdinal(files[a].Path, files[b].Path);
        });
        int[] position = new int[n];
        int[] topo = graph.TopologicalOrder();
        for (int k = 0; k < n; k++)
            position[topo[k]] = k;

        // Every file's whole cost, counted in parallel (the report lists them all).
        var whole = new int[n];
        int counted = 0;
        Parallel.For(0, n, new ParallelOptions { CancellationToken = cancellation }, i =>
        {
            whole[i] = counter.CountTokens(render.File(files[i].Path, files[i].Content, PackedAs.Whole));
            int done = Interlocked.Increment(ref counted);
            if (progress is not null && (done % 64 == 0 || done == n))
                progress.Report(new PackProgress(PackStage.Counting, done, n));
        });
        var outlines = new Dictionary<int, (string Text, int Tokens)>();

        int wrapper = counter.CountTokens(render.Header + render.Footer);
        if (wrapper > options.Budget)
            throw new ContextBudgetException($"budget {options.Budget} is smaller than the output's wrapper ({wrapper} tokens)");

        // Pieces are counted one by one; the whole text can tokenize a little differently at the seams, so it is
        // counted again and, if over, the selection is redone with a target lowered by twice the overshoot.
        int target = options.Budget;
        for (int attempt = 0; ; attempt++)
        {
            cancellation.ThrowIfCancellationRequested();
            var chosen = new List<(int File, PackedAs As, int Tokens)>();
            var left = new List<DroppedItem>();
            long used = wrapper;
            foreach (int i in rankOrder)
            {
                if (used + whole[i] <= target)
                {
                    used += whole[i];
                    chosen.Add((i, PackedAs.Whole, whole[i]));
                    continue;
                }
                if (!outlines.TryGetValue(i, out var outline))
                {
                    string text = Outline.Extract(files[i].Path, files[i].Content);
                    outlines[i] = outline = (text, text.Length == 0 ? int.MaxValue : counter.CountTokens(render.File(files[i].Path, text, PackedAs.Outline)));
                }
                if (outline.Tokens != int.MaxValue && used + outline.Tokens <= target)
                {
                    used += outline.Tokens;
                    chosen.Add((i, PackedAs.Outline, outline.Tokens));
                    continue;
                }
                string why = outline.Tokens == int.MaxValue
                    ? $"does not fit: {whole[i]} tokens whole, no outline for this file type, {Math.Max(0, target - used)} left"
                    : $"does not fit: {whole[i]} tokens whole, {outline.Tokens} as outline, {Math.Max(0, target - used)} left";
                left.Add(new DroppedItem(files[i].Path, whole[i], why));
            }
            chosen.Sort((a, b) => position[a.File].CompareTo(position[b.File]));
            var sb = new StringBuilder(render.Header);
            foreach (var c in chosen)
                sb.Append(render.File(files[c.File].Path, c.As == PackedAs.Whole ? files[c.File].Content : outlines[c.File].Text, c.As));
            sb.Append(render.Footer);
            string output = sb.ToString();
            int tokens = counter.CountTokens(output);
            if (tokens <= options.Budget)
            {
                progress?.Report(new PackProgress(PackStage.Packing, chosen.Count, n));
                left.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
                var packed = chosen.Select(c => new PackedFile(files[c.File].Path, c.As, c.Tokens, whole[c.File], score[c.File])).ToList();
                return new PackResult(output, tokens, options.Budget, packed, left, scan.Skipped, n, graph.EdgeCount);
            }
            if (chosen.Count == 0)
                throw new ContextBudgetException($"budget {options.Budget} is smaller than the output's wrapper ({tokens} tokens)");
            target -= 2 * (tokens - options.Budget) + attempt;
        }
    }

    /// <summary>Relevance (BM25 over path and content, scaled to 0..1) blended with PageRank centrality (scaled to 0..1).</summary>
    private static double[] Rank(List<RepoFile> files, ImportGraph graph, string? query)
    {
        int n = files.Count;
        double[] rank = graph.PageRank();
        double maxRank = n == 0 ? 0 : rank.Max();
        var score = new double[n];
        double[]? relevance = null;
        double maxRelevance = 0;
        if (!string.IsNullOrWhiteSpace(query))
        {
            var index = Bm25Index.Build(files.Select(f => f.Path + "\n" + f.Content).ToList());
            relevance = index.Score(query);
            maxRelevance = n == 0 ? 0 : relevance.Max();
        }
        for (int i = 0; i < n; i++)
        {
            double centrality = maxRank > 0 ? rank[i] / maxRank : 0;
            score[i] = relevance is null
                ? centrality
                : QueryWeight * (maxRelevance > 0 ? relevance[i] / maxRelevance : 0) + (1 - QueryWeight) * centrality;
        }
        return score;
    }

    private sealed class Relay(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }

    /// <summary>The two output formats: XML-style tags (contents verbatim, not escaped) or Markdown code fences.</summary>
    private sealed class Renderer(PackFormat format, string name)
    {
        public string Header { get; } = format == PackFormat.Xml
            ? $"<repository name=\"{Attribute(name)}\">\n"
            : $"# Repository {name}\n\n";

        public string Footer { get; } = format == PackFormat.Xml ? "</repository>\n" : "";

        public string File(string path, string content, PackedAs kind)
        {
            string body = content.Length == 0 || content.EndsWith('\n') ? content : content + "\n";
            if (format == PackFormat.Xml)
            {
                string tag = kind == PackedAs.Whole ? $"<file path=\"{Attribute(path)}\">\n" : $"<file path=\"{Attribute(path)}\" outline=\"true\">\n";
                return tag + body + "</file>\n";
            }
            string fence = Fence(body);
            string title = kind == PackedAs.Whole ? $"## {path}\n\n" : $"## {path} (outline)\n\n";
            string lang = kind == PackedAs.Whole ? FenceLanguage(path) : "";
            return title + fence + lang + "\n" + body + fence + "\n\n";
        }

        private static string Fence(string body)
        {
            // One backtick more than the longest run inside, so the content cannot close the fence.
            int longest = 0, run = 0;
            foreach (char c in body)
            {
                run = c == '`' ? run + 1 : 0;
                longest = Math.Max(longest, run);
            }
            return new string('`', Math.Max(3, longest + 1));
        }

        private static string FenceLanguage(string path) => Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".cs" => "csharp",
            ".py" => "python",
            ".js" or ".mjs" or ".cjs" or ".jsx" => "javascript",
            ".ts" or ".tsx" or ".mts" or ".cts" => "typescript",
            ".go" => "go",
            ".java" => "java",
            ".kt" => "kotlin",
            ".rs" => "rust",
            ".c" or ".h" => "c",
            ".cc" or ".cpp" or ".cxx" or ".hpp" or ".hh" or ".hxx" => "cpp",
            ".md" => "markdown",
            ".json" => "json",
            ".xml" or ".csproj" or ".props" or ".slnx" => "xml",
            ".yml" or ".yaml" => "yaml",
            ".sh" => "bash",
            _ => "",
        };

        private static string Attribute(string s) =>
            s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal)
             .Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
    }
}
