using Fathom.Tests.Cli;

namespace Fathom.Tests.KvPolicies;

public class EvalCommandTests
{
    private static string Model => Fixtures.Model("fathom-code-5m-q8_0.gguf");
    private static string Text => Path.Combine(Fixtures.Text, "stdlib-8k.txt");

    [Fact]
    public void Eval_kv_prints_the_table_and_writes_the_report_and_svg()
    {
        string dir = Directory.CreateTempSubdirectory("fathom-evalkv").FullName;
        try
        {
            string report = Path.Combine(dir, "q.md");
            var (code, output, err) = CliRunner.Run("eval", "kv", "-m", Model, "-f", Text, "-c", "64", "--decode-window", "4",
                "--kv-policy", "full,window:sinks=2", "--budget", "1/2,0.25", "-t", "1", "--report", report);
            Assert.True(code == 0, err);
            Assert.Contains("| window | 1/2 | 32 |", output, StringComparison.Ordinal);
            Assert.Contains("| window | 1/4 | 16 |", output, StringComparison.Ordinal);
            Assert.Contains("![KL vs budget](q.svg)", File.ReadAllText(report), StringComparison.Ordinal);
            Assert.Contains("<polyline", File.ReadAllText(Path.Combine(dir, "q.svg")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Kv_grid_separate_runs_the_policies_at_each_type_over_windows_spread_across_the_text()
    {
        var (code, output, err) = CliRunner.Run("eval", "kv", "-m", Model, "-f", Text, "-c", "64", "--decode-window", "4",
            "--kv-policy", "window", "--budget", "1/2", "-ctk", "f16,q8_0", "--kv-grid", "separate", "--windows", "2", "--spread", "-t", "1");
        Assert.True(code == 0, err);
        Assert.Contains("| window | 1/2 | 32 | q8_0 | f16 |", output, StringComparison.Ordinal);
        Assert.Contains("| window | 1/2 | 32 | f16 | f16 |", output, StringComparison.Ordinal);
        Assert.Contains("| K f16 V f16 | K q8_0 V f16 |", output, StringComparison.Ordinal);
        Assert.Matches(@"2 window\(s\) of 64 every \d{4} tokens", err);
    }

    [Theory]
    [InlineData("--kv-grid", "diagonal")]
    [InlineData("--kv-policy", "bogus")]
    [InlineData("--budget", "3/2")]
    [InlineData("--cache-type-k", "q5_9")]
    [InlineData("--decode-window", "64")]
    public void Bad_options_exit_2_with_one_line(string option, string value)
    {
        var (code, _, err) = CliRunner.Run("eval", "kv", "-m", Model, "-f", Text, "-c", "64", option, value);
        Assert.Equal(2, code);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
