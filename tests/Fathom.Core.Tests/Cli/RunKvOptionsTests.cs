namespace Fathom.Tests.Cli;

public class RunKvOptionsTests
{
    private static readonly string Model = Fixtures.Model("tiny-llama-f32.gguf");

    [Fact]
    public void Overflow_error_stops_and_shift_continues()
    {
        var (code, _, err) = CliRunner.Run("run", "-m", Model, "--tokens", "1,2,3,4,5,6,7,8,9,10", "-c", "16", "-n", "30", "--temp", "0");
        Assert.Equal(0, code);
        Assert.Contains("16 positions used of 16", err);
        Assert.Contains("generation: 7 tokens", err);
        (code, _, err) = CliRunner.Run("run", "-m", Model, "--tokens", "1,2,3,4,5,6,7,8,9,10", "-c", "16", "-n", "30", "--temp", "0", "--overflow", "shift", "--keep", "2");
        Assert.Equal(0, code);
        Assert.Contains("shifted, dropping 7 tokens", err);
        Assert.Contains("generation: 30 tokens", err);
        Assert.Equal(2, CliRunner.Run("run", "-m", Model, "--tokens", "1,2", "--overflow", "wrap").Code);
    }

    [Fact]
    public void Overflow_policy_runs_past_the_context_under_an_evicting_policy()
    {
        var (code, _, err) = CliRunner.Run("run", "-m", Model, "--tokens", "1,2,3,4,5,6,7,8,9,10", "-c", "16", "-n", "30", "--temp", "0",
            "--overflow", "policy", "--kv-policy", "window:sinks=2", "--budget", "8");
        Assert.True(code == 0, err);
        Assert.Contains("generation: 30 tokens", err);
        Assert.Contains("context of 16 tokens is full: KV policy window", err);
        Assert.Contains("39 positions run, 8 held in layer 0", err);
        // quest keeps everything, so it cannot bound memory; a budget must leave room; bad specs are usage errors.
        Assert.Equal(2, CliRunner.Run("run", "-m", Model, "--tokens", "1,2", "-c", "16", "--overflow", "policy", "--kv-policy", "quest", "--budget", "8").Code);
        Assert.Equal(2, CliRunner.Run("run", "-m", Model, "--tokens", "1,2", "-c", "16", "--overflow", "policy", "--kv-policy", "window", "--budget", "16").Code);
        Assert.Equal(2, CliRunner.Run("run", "-m", Model, "--tokens", "1,2", "--kv-policy", "window:bogus=1").Code);
        Assert.Equal(2, CliRunner.Run("run", "-m", Model, "--tokens", "1,2", "--kv-policy", "window", "--budget", "0").Code);
        Assert.Equal(2, CliRunner.Run("run", "-m", Model, "--tokens", "1,2", "--kv-policy", "window", "--overflow", "shift").Code);
    }

    [Fact]
    public void Prompt_cache_is_reused_and_a_foreign_file_is_a_usage_error()
    {
        string file = Path.Combine(Path.GetTempPath(), "fathom-pc-" + Guid.NewGuid().ToString("N") + ".bin");
        try
        {
            string[] args = ["run", "-m", Model, "--tokens", "5,6,7,8,9,10,11,12", "-n", "2", "--temp", "0", "--prompt-cache", file];
            var first = CliRunner.Run(args);
            Assert.Equal(0, first.Code);
            Assert.Contains("reused 0 of 8", first.Err);
            var second = CliRunner.Run(args);
            Assert.Equal(0, second.Code);
            Assert.Contains("reused 7 of 8", second.Err);
            Assert.Equal(first.Out, second.Out);
            var (code, _, _) = CliRunner.Run("run", "-m", Fixtures.Model("tiny-llama-rope-f32.gguf"), "--tokens", "5,6,7", "-n", "1", "--prompt-cache", file);
            Assert.Equal(2, code);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
