using System.Globalization;
using System.Text.RegularExpressions;

namespace Fathom.Tests.Cli;

public partial class PerplexityCommandTests
{
    private static readonly string Model = Fixtures.Model("fathom-code-5m-q8_0.gguf");
    private static readonly string Text8K = Path.Combine(Fixtures.Text, "stdlib-8k.txt");

    [GeneratedRegex(@"^Final estimate: PPL = (\d+\.\d{4}) \+/- (\d+\.\d{5})$", RegexOptions.Multiline)]
    private static partial Regex FinalLine();

    [Fact]
    public void Prints_llama_perplexity_final_line()
    {
        var (code, output, err) = CliRunner.Run("perplexity", "-m", Model, "-f", Text8K, "-c", "128", "-b", "64", "--chunks", "3", "-t", "2");
        Assert.True(code == 0, err);
        var match = FinalLine().Match(output);
        Assert.True(match.Success, output);
        double ppl = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(ppl, 1, 4096);
        Assert.Contains("3 chunks of 128", err);
        Assert.Contains("189 scored", err);
    }

    [Theory]
    [InlineData("-c", "3")]
    [InlineData("-c", "5000")]
    [InlineData("-b", "0")]
    [InlineData("--chunks", "0")]
    [InlineData("-t", "0")]
    public void Bad_options_are_one_line_and_exit_2(string option, string value)
    {
        var (code, output, err) = CliRunner.Run("perplexity", "-m", Model, "-f", Text8K, option, value);
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Missing_files_exit_2()
    {
        Assert.Equal(2, CliRunner.Run("perplexity", "-m", Model, "-f", Text8K + ".missing").Code);
        Assert.Equal(2, CliRunner.Run("perplexity", "-m", Model + ".missing", "-f", Text8K).Code);
        Assert.Equal(2, CliRunner.Run("perplexity", "-m", Model).Code);
    }
}
