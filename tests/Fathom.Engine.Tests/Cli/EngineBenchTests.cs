namespace Fathom.Engine.Tests.Cli;

public class EngineBenchTests
{
    [Fact]
    public void Parallel_bench_reports_aggregate_decode_and_cached_prefix_ttft()
    {
        var (code, output, err) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q8_0.gguf"), "--parallel", "1,3", "-n", "5", "--prefix", "40", "-r", "1", "-t", "1");
        Assert.True(code == 0, err);
        Assert.Contains("| decode, 1 concurrent (aggregate tok/s) |", output);
        Assert.Contains("| decode, 3 concurrent (aggregate tok per CPU-second) |", output);
        Assert.Contains("| TTFT, 40+16 tokens, cold (ms) |", output);
        Assert.Contains("| TTFT, 40+16 tokens, 32 cached (ms) |", output);
        Assert.DoesNotContain("still in use", err);
    }

    [Fact]
    public void Bad_parallel_counts_are_usage_errors()
    {
        Assert.Equal(2, CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q8_0.gguf"), "--parallel", "0").Code);
        Assert.Equal(2, CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q8_0.gguf"), "--parallel", "2", "-n", "2").Code);
        Assert.Equal(2, CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q8_0.gguf"), "--parallel", "x").Code);
    }
}
