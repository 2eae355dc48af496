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
        // The depth's runs against depth 0's, pair by pair: what the samples give.
        Assert.False(tests[0].TryGetProperty("vs_depth0", out _));
        var vs = tests[1].GetProperty("vs_depth0");
        double[] zero = [.. tests[0].GetProperty("samples_ts").EnumerateArray().Select(e => e.GetDouble())];
        double[] deep = [.. tests[1].GetProperty("samples_ts").EnumerateArray().Select(e => e.GetDouble())];
        double[] pairs = [.. zero.Zip(deep, (a, b) => b / a).Order()];
        Assert.Equal(pairs[1], vs.GetProperty("pair_median").GetDouble(), 0.01);
        Assert.Equal(pairs[0], vs.GetProperty("pair_min").GetDouble(), 0.01);
        Assert.Equal(pairs[2], vs.GetProperty("pair_max").GetDouble(), 0.01);
        Assert.Equal(deep.Max() / zero.Max(), vs.GetProperty("best").GetDouble(), 0.01);
        var table = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "-p", "0", "-n", "2", "-d", "0,24", "-r", "2", "-t", "1", "--interleave");
        Assert.True(table.Code == 0, table.Err);
        Assert.Contains("tg2 @ d24 against depth 0:", table.Err);
        Assert.Contains("median of 2 interleaved pairs", table.Err);
        var both = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "--parallel", "2", "--interleave");
        Assert.Equal(2, both.Code);
        Assert.Contains("--interleave", both.Err);
    }

    [Fact]
    public void A_tiled_decode_reports_its_attention_by_phase()
    {
        var (code, output, err) = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "3", "-d", "64", "-r", "2", "-t", "1",
            "--kv-fill", "synthetic", "--kv-policy", "quest:page=8:dense=0", "--budget", "16", "--json");
        Assert.True(code == 0, err);
        var at = JsonDocument.Parse(output.Trim()).RootElement.GetProperty("attention_us_per_call");
        // One call per layer and decoded token of the timed runs (3 tokens × 2 runs), the warm-up's not among them.
        long calls = at.GetProperty("calls").GetInt64();
        Assert.True(calls > 0 && calls % 6 == 0, $"{calls} calls");
        Assert.True(at.GetProperty("fold").GetDouble() > 0);
        Assert.All(new[] { "page_choice", "gather", "merge" }, f => Assert.True(at.GetProperty(f).GetDouble() >= 0, f));
        // The attention is part of the step: per token it is positive and at most the whole step.
        var record = JsonDocument.Parse(output.Trim()).RootElement;
        double attention = record.GetProperty("attention_ms_per_token").GetDouble(), step = record.GetProperty("ms_per_token").GetDouble();
        Assert.True(attention > 0 && attention <= step, $"attention {attention} ms of a {step} ms step");
        var table = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "2", "-d", "64", "-r", "1", "-t", "1",
            "--kv-fill", "synthetic", "--kv-policy", "quest:page=8:dense=0", "--budget", "16");
        Assert.True(table.Code == 0, table.Err);
        Assert.Matches(@"tg2 @ d64 \(synthetic KV\) quest attention per layer call: page choice [0-9.]+ µs, gather [0-9.]+ µs, fold [0-9.]+ µs, merge [0-9.]+ µs \([0-9.]+ ms per token; the whole step [0-9.]+ ms, the rest of it [0-9.]+ ms\)", table.Err);
    }

    [Fact]
    public void An_interleaved_decode_at_depth_reports_the_attentions_own_ratio()
    {
        string[] args = ["bench", "-m", Fixtures.Model("tiny-llama-f32.gguf"), "-p", "0", "-n", "2", "-d", "0,64", "-r", "2", "-t", "1",
            "--kv-fill", "synthetic", "--kv-policy", "quest:page=8:dense=0", "--budget", "16", "--interleave"];
        var (code, output, err) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 0, err);
        var tests = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.False(tests[0].TryGetProperty("vs_depth0", out _));
        // Depth 0's step over itself plus the attention's extra time per token at depth.
        double step0 = tests[0].GetProperty("ms_per_token").GetDouble();
        double extra = tests[1].GetProperty("attention_ms_per_token").GetDouble() - tests[0].GetProperty("attention_ms_per_token").GetDouble();
        double own = tests[1].GetProperty("vs_depth0").GetProperty("attention_only").GetDouble();
        Assert.Equal(step0 / (step0 + extra), own, 0.01);
        var table = CliRunner.Run(args);
        Assert.True(table.Code == 0, table.Err);
        Assert.Matches(@"tg2 @ d64 \(synthetic KV\) quest against depth 0: .*; the attention's own ratio [0-9.]+ %", table.Err);
        // Without a policy's timed attention there is no such ratio.
        var plain = CliRunner.Run("bench", "-m", Fixtures.Model("tiny-llama-q4_0.gguf"), "-p", "0", "-n", "2", "-d", "0,24", "-r", "2", "-t", "1", "--interleave");
        Assert.True(plain.Code == 0, plain.Err);
        Assert.DoesNotContain("the attention's own ratio", plain.Err);
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

    [Fact]
    public void Depth_ratio_is_the_median_pair_and_the_best_runs()
    {
        var odd = Fathom.Cli.Commands.DepthRatio.Of([10, 20, 40], [8, 10, 36])!.Value;
        Assert.Equal(0.8, odd.PairMedian, 12);
        Assert.Equal(0.5, odd.PairMin, 12);
        Assert.Equal(0.9, odd.PairMax, 12);
        Assert.Equal(0.9, odd.Best, 12);
        var even = Fathom.Cli.Commands.DepthRatio.Of([10, 10, 10, 10], [5, 6, 9, 10])!.Value;
        Assert.Equal(0.75, even.PairMedian, 12);
        Assert.Equal(1.0, even.Best, 12);
        Assert.Null(Fathom.Cli.Commands.DepthRatio.Of([], []));
        Assert.Null(Fathom.Cli.Commands.DepthRatio.Of([0, 10], [5, 5]));
    }
}
