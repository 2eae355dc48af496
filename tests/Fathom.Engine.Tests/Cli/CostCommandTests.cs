namespace Fathom.Engine.Tests.Cli;

public class CostCommandTests
{
    [Fact]
    public void Prints_the_breakdown_and_total()
    {
        var (code, output, err) = CliRunner.Run("cost", "--input", "250000", "--output", "2000", "--model", "claude-sonnet-4-5");
        Assert.True(code == 0, err);
        Assert.Contains("long-context tier", output);
        // 250,000 × $6 + 2,000 × $22.50 per million.
        Assert.Contains("total $1.545", output);
    }

    [Fact]
    public void Cache_and_batch_options_apply()
    {
        var (code, output, _) = CliRunner.Run("cost", "--input", "1000", "--output", "0", "--cache-write", "1000000", "--cache-ttl", "1h",
            "--cache-read", "1000000", "--batch", "--model", "claude-haiku-4-5");
        Assert.Equal(0, code);
        // (1,000 × $1 + 1M × $1 × 2 + 1M × $1 × 0.1) × 0.5 per million.
        Assert.Contains("total $1.0505", output);
    }

    [Fact]
    public void A_user_price_table_overrides_the_default()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{ "schema": 1, "version": "u", "date": "2026-01-01", "models": [ { "name": "local-x", "input": 2, "output": 4 } ] }""");
            var (code, output, _) = CliRunner.Run("cost", "--input", "500000", "--output", "500000", "--model", "local-x", "--price-table", file);
            Assert.Equal(0, code);
            Assert.Contains("total $3.00", output);
            Assert.Contains("price table u", output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("--input", "1")]
    [InlineData("--input", "1", "--output", "-5")]
    [InlineData("--input", "1", "--output", "1", "--model", "nope")]
    [InlineData("--input", "1", "--output", "1", "--cache-ttl", "2h")]
    [InlineData("--input", "1", "--output", "1", "--price-table", "/nonexistent.json")]
    public void Bad_usage_is_exit_code_2(params string[] args)
    {
        var (code, _, err) = CliRunner.Run(["cost", .. args]);
        Assert.Equal(2, code);
        Assert.StartsWith("fathom: ", err);
    }

    [Fact]
    public void Lists_the_table()
    {
        var (code, output, _) = CliRunner.Run("cost", "--list");
        Assert.Equal(0, code);
        Assert.Contains("claude-sonnet-4-5", output);
    }
}
