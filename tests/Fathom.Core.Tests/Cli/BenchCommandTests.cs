using System.Text.Json;

namespace Fathom.Tests.Cli;

public class BenchCommandTests
{
    [Fact]
    public void Json_prints_one_object_per_test()
    {
        var (code, output, err) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-qwen3-f32.gguf"), "-p", "8", "-n", "2", "-d", "0,4", "-r", "2", "-t", "1", "--json");
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        var tests = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal([(8, 0, 0), (0, 2, 0), (8, 0, 4), (0, 2, 4)],
            tests.Select(t => (t.GetProperty("n_prompt").GetInt32(), t.GetProperty("n_gen").GetInt32(), t.GetProperty("n_depth").GetInt32())));
        Assert.All(tests, t => Assert.True(t.GetProperty("avg_ts").GetDouble() > 0 && t.GetProperty("stddev_ts").GetDouble() >= 0));
        // Each run's own speed, as llama-bench's samples_ts: their mean is avg_ts.
        Assert.All(tests, t =>
        {
            double[] samples = [.. t.GetProperty("samples_ts").EnumerateArray().Select(e => e.GetDouble())];
            Assert.Equal(2, samples.Length);
            Assert.Equal(t.GetProperty("avg_ts").GetDouble(), samples.Average(), 0.01);
        });
    }

    [Fact]
    public void Interleave_runs_every_depth_with_its_own_samples()
    {
        var (code, output, err) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "-p", "0", "-n", "2", "-d", "0,24", "-r", "3", "-t", "1",
            "--json", "--interleave");
        Assert.True(code == 0, err);
        var tests = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal([0, 24], tests.Select(t => t.GetProperty("n_depth").GetInt32()));
        Assert.All(tests, t =>
        {
            Assert.True(t.GetProperty("interleaved").GetBoolean());
            Assert.Equal(3, t.GetProperty("samples_ts").GetArrayLength());
            Assert.All(t.GetProperty("samples_ts").EnumerateArray(), e => Assert.True(e.GetDouble() > 0));
        });
        var both = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "--parallel", "2", "--interleave");
        Assert.Equal(2, both.Code);
        Assert.Contains("--interleave", both.Err);
    }

    [Fact]
    public void Table_names_pp_and_tg_tests()
    {
        var (code, output, _) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "-p", "4", "-n", "2", "-r", "1", "-t", "1");
        Assert.Equal(0, code);
        Assert.Contains("| pp4 |", output);
        Assert.Contains("| tg2 |", output);
        Assert.Equal(2, CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "-p", "0", "-n", "0").Code);
    }

    [Fact]
    public void Synthetic_fill_and_a_policy_are_labelled()
    {
        var (code, output, err) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "2", "-d", "64", "-r", "2", "-t", "1",
            "--kv-fill", "synthetic", "--kv-policy", "quest:page=8:dense=0", "--budget", "16", "--json");
        Assert.True(code == 0, err);
        var t = JsonDocument.Parse(output.Trim()).RootElement;
        Assert.Equal("synthetic", t.GetProperty("kv_fill").GetString());
        Assert.StartsWith("quest", t.GetProperty("kv_policy").GetString(), StringComparison.Ordinal);
        (code, output, _) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "2", "-d", "16", "-r", "1", "-t", "1", "--kv-fill", "synthetic");
        Assert.Equal(0, code);
        Assert.Contains("tg2 @ d16 (synthetic KV)", output);
        Assert.Equal(2, CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "2", "--kv-fill", "fake").Code);
        Assert.Equal(2, CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "2", "-d", "8", "--kv-fill", "synthetic", "--kv-policy", "h2o").Code);
    }
}
