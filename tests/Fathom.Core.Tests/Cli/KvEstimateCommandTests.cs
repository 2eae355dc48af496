using System.Text.Json;
using Fathom.KvCache;
using Fathom.Models;

namespace Fathom.Tests.Cli;

public class KvEstimateCommandTests
{
    [Theory]
    [InlineData("f16", "f16")]
    [InlineData("q8_0", "q4_0")]
    [InlineData("f32", "q8_0")]
    public void Bytes_per_token_follow_the_formula(string k, string v)
    {
        string path = Fixtures.Model("tiny-llama-f32.gguf");
        var (code, output, err) = CliRunner.Run("kv-estimate", "-m", path, "-c", "1000", "-ctk", k, "-ctv", v, "--json");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(output).RootElement;
        using var m = Model.Load(path);
        var c = m.Config;
        double perToken = c.BlockCount * c.HeadCountKv * (c.KeyLength * KvTypes.BytesPerElement(KvTypes.Parse(k)) + c.ValueLength * KvTypes.BytesPerElement(KvTypes.Parse(v)));
        Assert.Equal(perToken, j.GetProperty("kv_bytes_per_token").GetInt64());
        Assert.Equal((long)perToken * 1024, j.GetProperty("kv_bytes").GetInt64()); // 1000 rounded up to 16 pages of 64
        Assert.True(j.GetProperty("peak_rss_bytes").GetInt64() > j.GetProperty("weight_bytes").GetInt64());
    }

    [Fact]
    public void Policies_change_the_pages_the_state_and_the_steady_kv()
    {
        string path = Fixtures.Model("tiny-llama-f32.gguf");
        using var m = Model.Load(path);
        var c = m.Config;
        long perToken = (long)c.BlockCount * c.HeadCountKv * (c.KeyLength + c.ValueLength) * 2;
        // quest keeps every position in its own 16-slot pages and adds f32 and 8-bit key bounds per page (and a scale per head).
        var (code, output, err) = CliRunner.Run("kv-estimate", "-m", path, "-c", "1000", "--kv-policy", "quest", "--budget", "256", "--json");
        Assert.True(code == 0, err);
        var q = JsonDocument.Parse(output).RootElement;
        Assert.Equal(perToken * 1008, q.GetProperty("kv_bytes").GetInt64());
        Assert.Equal(63L * c.BlockCount * (2 * c.HeadCountKv * c.KeyLength * 5 + 4 * c.HeadCountKv), q.GetProperty("policy_bytes").GetInt64());
        Assert.Equal(q.GetProperty("kv_bytes").GetInt64() + q.GetProperty("policy_bytes").GetInt64() + q.GetProperty("weight_bytes").GetInt64()
            + q.GetProperty("scratch_bytes").GetInt64() + q.GetProperty("runtime_bytes").GetInt64(), q.GetProperty("peak_rss_bytes").GetInt64());
        // An evicting policy peaks at the whole prompt and then holds its budget plus one page.
        (code, output, err) = CliRunner.Run("kv-estimate", "-m", path, "-c", "1000", "--kv-policy", "window", "--budget", "256", "--json");
        Assert.True(code == 0, err);
        var w = JsonDocument.Parse(output).RootElement;
        Assert.Equal(perToken * 1024, w.GetProperty("kv_bytes").GetInt64());
        Assert.Equal(perToken * 320, w.GetProperty("steady_kv_bytes").GetInt64());
        Assert.Equal(0, w.GetProperty("policy_bytes").GetInt64());
        // With no budget it evicts nothing: what it holds is the full KV, counted in whole pages like it.
        (code, output, err) = CliRunner.Run("kv-estimate", "-m", path, "-c", "1000", "--kv-policy", "window", "--json");
        Assert.True(code == 0, err);
        var all = JsonDocument.Parse(output).RootElement;
        Assert.Equal(all.GetProperty("kv_bytes").GetInt64(), all.GetProperty("steady_kv_bytes").GetInt64());
    }

    [Fact]
    public void Bad_options_are_usage_errors()
    {
        string path = Fixtures.Model("tiny-llama-f32.gguf");
        Assert.Equal(2, CliRunner.Run("kv-estimate", "-m", path, "-c", "100", "--kv-policy", "lru").Code);
        Assert.Equal(2, CliRunner.Run("kv-estimate", "-m", path, "-c", "100", "--kv-policy", "quest:page=0").Code);
        Assert.Equal(2, CliRunner.Run("kv-estimate", "-m", path, "-c", "100", "--kv-page", "0").Code);
        Assert.Equal(2, CliRunner.Run("kv-estimate", "-m", path, "-c", "0").Code);
        Assert.Equal(2, CliRunner.Run("kv-estimate", "-m", path, "-c", "10", "-ctk", "q5_9").Code);
        Assert.Equal(2, CliRunner.Run("bench", "-m", path, "-p", "4", "-n", "0", "-r", "1", "--kv-ram", "lots").Code);
        Assert.Equal(2, CliRunner.Run("bench", "-m", path, "-p", "4", "-n", "0", "-r", "1", "--attention", "exact", "-ctk", "q8_0").Code);
        Assert.Equal(2, CliRunner.Run("bench", "-m", path, "-p", "4", "-n", "0", "-r", "1", "--rope-scaling", "cubic").Code);
    }

    [Fact]
    public void Bench_runs_with_a_quantized_cache_and_reports_its_memory()
    {
        var (code, output, err) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "8", "-n", "2", "-r", "1", "-t", "2",
            "-ctk", "q8_0", "-ctv", "q8_0", "--ubatch", "3", "--kv-ram", "64K", "--json");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(output.Split('\n')[0]).RootElement;
        Assert.Equal("q8_0", j.GetProperty("type_k").GetString());
        Assert.True(j.GetProperty("kv_bytes").GetInt64() > 0);
        Assert.True(j.GetProperty("peak_rss_bytes").GetInt64() > 0);
    }
}
