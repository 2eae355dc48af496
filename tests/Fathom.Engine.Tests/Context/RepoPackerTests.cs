using System.Text.RegularExpressions;
using CsCheck;
using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class RepoPackerTests
{
    private static RepoScan Scan(params (string Path, string Content)[] files) => new(files.Select(f => new RepoFile(f.Path, f.Content)).ToList(), []);

    private static List<string> PathsInOutput(string output) =>
        Regex.Matches(output, "<file path=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();

    private static readonly Gen<string> Word = Gen.OneOf("alpha", "Beta", "gamma_delta", "parseHTTP", "x", "42", "é", "日本", "{", "}", "(", ")", ";", " ", "  ", "\n", "\t", "=>", "</file>", "```");

    private static readonly Gen<RepoFile[]> Files =
        Gen.Select(Gen.OneOf("a", "b", "pkg", "pkg/sub"), Gen.OneOf("m", "n", "util", "core"), Gen.OneOf(".py", ".cs", ".md", ".txt"),
                Word.Array[0, 120].Select(w => string.Concat(w)), Gen.OneOf("", "import pkg.util\n", "from . import core\n", "using Lib;\nnamespace Lib;\n"))
            .Select((dir, name, ext, body, imports) => new RepoFile($"{dir}/{name}{ext}", imports + body))
            .Array[0, 12]
            .Select(fs => fs.DistinctBy(f => f.Path).ToArray());

    [Fact]
    public void The_budget_is_never_exceeded()
    {
        Gen.Select(Files, Gen.Int[1, 1500], Gen.Bool, Gen.OneOf<string?>(null, "alpha", "parse http core")).Sample((files, budget, markdown, query) =>
        {
            foreach (var counter in (ITokenCounter[])[Fixtures.Counter, Fixtures.SpmCounter])
            {
                var options = new PackOptions { Budget = budget, Query = query, Format = markdown ? PackFormat.Markdown : PackFormat.Xml };
                PackResult result;
                try
                {
                    result = RepoPacker.Pack(new RepoScan(files, []), "repo", counter, options, cancellation: TestContext.Current.CancellationToken);
                }
                catch (ContextBudgetException)
                {
                    // Only when not even the empty wrapper fits.
                    Assert.True(counter.CountTokens(markdown ? "# Repository repo\n\n" : "<repository name=\"repo\">\n</repository>\n") > budget);
                    continue;
                }
                Assert.True(result.Tokens <= budget, $"{result.Tokens} > {budget}");
                Assert.Equal(counter.CountTokens(result.Output), result.Tokens);
                Assert.Equal(files.Length, result.Packed.Count + result.Left.Count);
            }
        }, iter: 60);
    }

    [Fact]
    public void Everything_fits_whole_in_a_large_budget_and_dependencies_come_first()
    {
        var scan = Scan(
            ("app/main.py", "from lib import util\nfrom lib import models\nprint(util.helper())\n"),
            ("lib/__init__.py", ""),
            ("lib/models.py", "from . import util\nclass Model: pass\n"),
            ("lib/util.py", "def helper():\n    return 1\n"),
            ("README.md", "# Demo\n"));
        var result = RepoPacker.Pack(scan, "demo", Fixtures.Counter, new PackOptions { Budget = 100_000 }, cancellation: TestContext.Current.CancellationToken);
        Assert.All(result.Packed, p => Assert.Equal(PackedAs.Whole, p.As));
        Assert.Empty(result.Left);
        var order = PathsInOutput(result.Output);
        Assert.Equal(5, order.Count);
        Assert.True(order.IndexOf("lib/util.py") < order.IndexOf("lib/models.py"));
        Assert.True(order.IndexOf("lib/models.py") < order.IndexOf("app/main.py"));
        Assert.True(order.IndexOf("lib/__init__.py") < order.IndexOf("app/main.py"));
        Assert.StartsWith("<repository name=\"demo\">\n", result.Output);
        Assert.EndsWith("</repository>\n", result.Output);
        Assert.Contains("<file path=\"lib/util.py\">\ndef helper():\n    return 1\n</file>\n", result.Output);
    }

    [Fact]
    public void Files_that_do_not_fit_whole_are_outlined_then_left_out_with_reasons()
    {
        string big = string.Concat(Enumerable.Range(0, 200).Select(i => $"def function_{i}(a, b):\n    return a * {i} + b\n\n"));
        var scan = Scan(("big.py", big), ("notes.txt", string.Join(' ', Enumerable.Repeat("words", 3000))));
        var result = RepoPacker.Pack(scan, "r", Fixtures.Counter, new PackOptions { Budget = 3000 }, cancellation: TestContext.Current.CancellationToken);
        var packed = Assert.Single(result.Packed);
        Assert.Equal(("big.py", PackedAs.Outline), (packed.Path, packed.As));
        Assert.True(packed.Tokens < packed.WholeTokens);
        Assert.Contains("<file path=\"big.py\" outline=\"true\">\n1: def function_0(a, b):\n", result.Output);
        var left = Assert.Single(result.Left);
        Assert.Equal("notes.txt", left.Id);
        Assert.Contains("no outline", left.Reason);
        Assert.True(result.Tokens <= 3000);
    }

    [Fact]
    public void A_query_brings_the_relevant_file_in_first()
    {
        string filler = string.Join('\n', Enumerable.Range(0, 60).Select(i => $"value_{i} = compute({i})"));
        var scan = Scan(("a.py", filler), ("b.py", filler + "\n# the price table loader\n"), ("c.py", filler));
        int oneFile = Fixtures.Counter.CountTokens("<repository name=\"r\">\n<file path=\"b.py\">\n" + scan.Files[1].Content + "\n</file>\n</repository>\n");
        var result = RepoPacker.Pack(scan, "r", Fixtures.Counter, new PackOptions { Budget = oneFile + 20, Query = "PriceTable loader" }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal("b.py", result.Packed.First(p => p.As == PackedAs.Whole).Path);
    }

    [Fact]
    public void Output_is_byte_identical_across_runs_and_input_orders()
    {
        using var tree = new TempTree()
            .Write("src/a.cs", "using Demo.B;\nnamespace Demo.A;\npublic class A { }\n")
            .Write("src/b.cs", "namespace Demo.B;\npublic class B { public void Run() { } }\n")
            .Write("docs/readme.md", "# Readme\n")
            .Write("tools/x.py", "import os\n");
        var options = new PackOptions { Budget = 60, Format = PackFormat.Markdown, Name = "t" };
        var first = RepoPacker.Pack(tree.Root, Fixtures.Counter, options, cancellation: TestContext.Current.CancellationToken);
        var second = RepoPacker.Pack(tree.Root, Fixtures.Counter, options, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(first.Output, second.Output);
        var scan = RepoWalker.Walk(tree.Root, cancellation: TestContext.Current.CancellationToken);
        var shuffled = new RepoScan(scan.Files.Reverse().ToList(), scan.Skipped);
        Assert.Equal(first.Output, RepoPacker.Pack(shuffled, "t", Fixtures.Counter, options, cancellation: TestContext.Current.CancellationToken).Output);
        Assert.Equal(first.Left.Select(l => l.Id), second.Left.Select(l => l.Id));
    }

    [Fact]
    public void Markdown_fences_are_longer_than_any_backtick_run_inside()
    {
        var result = RepoPacker.Pack(Scan(("doc.md", "text\n````\ncode\n````\n")), "r", Fixtures.Counter,
            new PackOptions { Budget = 1000, Format = PackFormat.Markdown }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal("# Repository r\n\n## doc.md\n\n`````markdown\ntext\n````\ncode\n````\n`````\n\n", result.Output);
    }

    [Fact]
    public void A_budget_smaller_than_the_wrapper_is_a_typed_error()
    {
        Assert.Throws<ContextBudgetException>(() => RepoPacker.Pack(Scan(("a.txt", "a")), "r", Fixtures.Counter, new PackOptions { Budget = 2 }, cancellation: TestContext.Current.CancellationToken));
        Assert.Throws<ContextBudgetException>(() => RepoPacker.Pack(Scan(), "r", Fixtures.Counter, new PackOptions { Budget = 0 }, cancellation: TestContext.Current.CancellationToken));
    }
}
