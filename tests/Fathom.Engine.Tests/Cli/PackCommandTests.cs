namespace Fathom.Engine.Tests.Cli;

public class PackCommandTests
{
    private static readonly string Vocab = Fixtures.Vocab("ggml-vocab-llama-bpe.gguf");

    [Fact]
    public void Packs_a_tree_within_the_budget_and_reports_on_stderr()
    {
        using var tree = new TempTree()
            .Write("lib/util.py", "def helper():\n    return 1\n")
            .Write("main.py", "from lib import util\n")
            .Write("package-lock.json", "{}");
        var (code, output, err) = CliRunner.Run("pack", tree.Root, "--vocab", Vocab, "--budget", "500");
        Assert.True(code == 0, err);
        Assert.Contains("<file path=\"lib/util.py\">", output);
        Assert.True(output.IndexOf("lib/util.py", StringComparison.Ordinal) < output.IndexOf("<file path=\"main.py\"", StringComparison.Ordinal));
        Assert.Contains("skipped 1 (lock file): package-lock.json", err);
        Assert.Contains("packed 2 of 2 files", err);
        Assert.True(Fixtures.Counter.CountTokens(output) <= 500);
    }

    [Fact]
    public void Writes_markdown_to_a_file_identically_across_runs()
    {
        using var tree = new TempTree().Write("a.go", "package a\nfunc A() {}\n").Write("b.rs", "fn main() {}\n");
        string o1 = Path.Combine(tree.Root, "..", Path.GetFileName(tree.Root) + "-1.md");
        string o2 = Path.Combine(tree.Root, "..", Path.GetFileName(tree.Root) + "-2.md");
        try
        {
            Assert.Equal(0, CliRunner.Run("pack", tree.Root, "--vocab", Vocab, "--budget", "300", "--format", "markdown", "-o", o1).Code);
            Assert.Equal(0, CliRunner.Run("pack", tree.Root, "--vocab", Vocab, "--budget", "300", "--format", "markdown", "-o", o2).Code);
            Assert.Equal(File.ReadAllBytes(o1), File.ReadAllBytes(o2));
            Assert.StartsWith("# Repository ", File.ReadAllText(o1));
        }
        finally
        {
            File.Delete(o1);
            File.Delete(o2);
        }
    }

    [Fact]
    public void An_output_file_inside_the_tree_is_not_packed_again()
    {
        using var tree = new TempTree().Write("a.txt", "hello\n");
        string output = Path.Combine(tree.Root, "pack [1].xml");
        Assert.Equal(0, CliRunner.Run("pack", tree.Root, "--vocab", Vocab, "--budget", "300", "-o", output).Code);
        byte[] first = File.ReadAllBytes(output);
        var (code, _, err) = CliRunner.Run("pack", tree.Root, "--vocab", Vocab, "--budget", "300", "-o", output);
        Assert.True(code == 0, err);
        Assert.Equal(first, File.ReadAllBytes(output));
        Assert.Contains("--exclude", err);
    }

    [Fact]
    public void The_model_context_is_the_default_budget()
    {
        using var tree = new TempTree().Write("a.txt", "hello\n");
        var (code, _, err) = CliRunner.Run("pack", tree.Root, "-m", Fixtures.Model("tiny-llama-f32.gguf"));
        Assert.True(code == 0, err);
        Assert.Contains("packed 1 of 1 files", err);
    }

    [Theory]
    [InlineData("--budget", "1000")] // no tokenizer: never estimated by characters
    [InlineData("--vocab", "VOCAB")] // a vocab has no context length
    [InlineData("--vocab", "VOCAB", "--budget", "0")]
    [InlineData("--vocab", "VOCAB", "--budget", "100", "--format", "yaml")]
    [InlineData("--vocab", "VOCAB", "--budget", "3")] // smaller than the wrapper
    [InlineData("--vocab", "/nonexistent.gguf", "--budget", "100")]
    public void Bad_usage_is_one_line_and_exit_code_2(params string[] args)
    {
        using var tree = new TempTree().Write("a.txt", "x");
        var (code, output, err) = CliRunner.Run(["pack", tree.Root, .. args.Select(a => a == "VOCAB" ? Vocab : a)]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("fathom: ", err);
    }

    [Fact]
    public void A_missing_directory_is_exit_code_2()
    {
        Assert.Equal(2, CliRunner.Run("pack", "/nonexistent/dir", "--vocab", Vocab, "--budget", "100").Code);
    }
}
