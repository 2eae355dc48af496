using System.Text.RegularExpressions;

namespace Fathom.Engine.Tests.Cli;

public partial class AskCommandTests
{
    private static readonly string Tiny = Fixtures.Model("tiny-llama-f32.gguf");

    [GeneratedRegex(@"prompt cache: (\d+) tokens cached, (\d+) prefilled")]
    private static partial Regex CacheLine();

    private static (int Cached, int Prefilled) CacheFigures(string err)
    {
        var match = CacheLine().Match(err);
        Assert.True(match.Success, err);
        return (int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static (int Code, string Out, string Err) Ask(string dir, string question, string cache, params string[] more) =>
        CliRunner.Run(["ask", dir, question, "-m", Tiny, "-c", "1024", "-n", "6", "--temp", "0", "-t", "1", "--cache-dir", cache, .. more]);

    [Fact]
    public void A_follow_up_question_on_an_unchanged_repository_skips_the_prefill_of_the_pack()
    {
        using var tree = new TempTree()
            .Write("lib/util.py", "def helper():\n    return 1\n")
            .Write("main.py", "from lib import util\nprint(util.helper())\n")
            .Write("big.py", string.Join('\n', Enumerable.Range(0, 400).Select(i => $"def f{i}(x):\n    return x * {i}\n")));
        using var cache = new TempTree();
        var first = Ask(tree.Root, "What does helper return?", cache.Root);
        Assert.True(first.Code == 0, first.Err);
        Assert.DoesNotContain("3 whole", first.Err); // the budget binds: big.py is outlined or left out
        var (cached1, prefilled1) = CacheFigures(first.Err);
        Assert.Equal(0, cached1);
        Assert.Single(Directory.GetFiles(Path.Combine(cache.Root, "prompts"), "ask-*.kv"));

        // A longer question: the pack (filled to the budget) must not change with it.
        var second = Ask(tree.Root, "Which file imports util, and what does it print when it runs?", cache.Root);
        Assert.True(second.Code == 0, second.Err);
        var (cached2, prefilled2) = CacheFigures(second.Err);
        Assert.True(cached2 > 0, second.Err);
        Assert.True(prefilled2 < prefilled1 / 2, $"{prefilled2} of a {cached2 + prefilled2}-token prompt prefilled; first ask prefilled {prefilled1}");
        Assert.Contains("(hit:", second.Err);

        // Changing a file changes the pack: nothing is reused from the old one.
        File.AppendAllText(Path.Combine(tree.Root, "main.py"), "print(2)\n");
        var third = Ask(tree.Root, "Which file imports util?", cache.Root);
        Assert.True(third.Code == 0, third.Err);
        Assert.Equal(0, CacheFigures(third.Err).Cached);
    }

    [Fact]
    public void Greedy_answers_are_the_same_with_and_without_the_cache()
    {
        using var tree = new TempTree().Write("a.cs", "namespace A;\npublic static class A { public static int F() => 42; }\n");
        using var cache = new TempTree();
        var cold = Ask(tree.Root, "What does F return?", cache.Root, "--no-prompt-cache");
        Assert.True(cold.Code == 0, cold.Err);
        Assert.Contains("(cache off)", cold.Err);
        Assert.Equal(0, Ask(tree.Root, "What does F return?", cache.Root).Code);
        var warm = Ask(tree.Root, "What does F return?", cache.Root);
        Assert.True(CacheFigures(warm.Err).Cached > 0, warm.Err);
        Assert.Equal(cold.Out, warm.Out);
        Assert.Contains("ask: packed 1 of 1 files", warm.Err);
    }

    [Fact]
    public void Without_a_model_the_demo_model_answers()
    {
        using var tree = new TempTree().Write("a.txt", "hello\n");
        using var cache = new TempTree();
        var (code, _, err) = CliRunner.Run("ask", tree.Root, "what is this?", "-n", "4", "--temp", "0", "-t", "1", "--cache-dir", cache.Root);
        Assert.True(code == 0, err);
        Assert.Contains("DEMO", err);
        Assert.True(File.Exists(Path.Combine(cache.Root, "fathom-demo.gguf")));
    }

    [Theory]
    [InlineData("NODIR", "why?", "-m", "TINY")]
    [InlineData("DIR", "why?", "-m", "/nonexistent/model.gguf")]
    [InlineData("DIR", "why?", "-m", "GARBAGE")]
    [InlineData("DIR", "  ", "-m", "TINY")]
    [InlineData("DIR", "why?", "-m", "TINY", "-n", "0")]
    [InlineData("DIR", "why?", "-m", "TINY", "-c", "16")] // no room for the repository
    public void Bad_input_is_one_line_and_exit_code_2(params string[] args)
    {
        using var tree = new TempTree().Write("a.txt", "x").Write("garbage.gguf", "not a model at all");
        using var cache = new TempTree();
        string[] resolved = [.. args.Select(a => a switch
        {
            "DIR" => tree.Root,
            "NODIR" => Path.Combine(tree.Root, "missing"),
            "TINY" => Tiny,
            "GARBAGE" => Path.Combine(tree.Root, "garbage.gguf"),
            _ => a,
        })];
        var (code, output, err) = CliRunner.Run(["ask", .. resolved, "--cache-dir", cache.Root]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("fathom: ", err);
    }
}
