using System.Text.Json;
using Fathom.Cli.Commands;

namespace Fathom.Server.Tests;

/// <summary>Sampling fields reach the backend, and API-key files map keys to tenants.</summary>
public sealed class SamplingPassThroughTests
{
    [Fact]
    public async Task Chat_completions_pass_penalties_seed_stop_and_the_local_sampling_extensions()
    {
        await using var host = await TestHost.StartAsync();
        var (response, _) = await host.Client.SendJson(Http.OpenAI("""
            {"model":"fake-model","seed":7,"presence_penalty":0.5,"frequency_penalty":-0.25,"top_p":0.9,"top_k":40,"min_p":0.05,
             "repetition_penalty":1.1,"stop":["zzz"],"messages":[{"role":"user","content":"hi"}]}
            """));
        Assert.Equal(200, (int)response.StatusCode);
        var s = host.Backend.LastSettings!;
        Assert.Equal(7, s.Seed);
        Assert.Equal(0.5f, s.PresencePenalty);
        Assert.Equal(-0.25f, s.FrequencyPenalty);
        Assert.Equal(0.9f, s.TopP);
        Assert.Equal(40, s.TopK);
        Assert.Equal(0.05f, s.MinP);
        Assert.Equal(1.1f, s.RepetitionPenalty);
        Assert.Equal(["zzz"], s.Stop);

        var (bad, body) = await host.Client.SendJson(Http.OpenAI("""{"model":"fake-model","min_p":2,"messages":[{"role":"user","content":"hi"}]}"""));
        Assert.Equal("min_p", Http.AssertOpenAIError(bad, body, 400, "invalid_request_error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Messages_pass_top_k_min_p_and_stop_sequences_on_2023_06_01_and_reject_min_p_on_2026_10_21()
    {
        await using var host = await TestHost.StartAsync();
        const string body = """{"model":"fake-model","max_tokens":8,"top_k":5,"min_p":0.1,"temperature":0.3,"stop_sequences":["END"],"messages":[{"role":"user","content":"hi"}]}""";
        var (ok, _) = await host.Client.SendJson(Http.Anthropic(body));
        Assert.Equal(200, (int)ok.StatusCode);
        var s = host.Backend.LastSettings!;
        Assert.Equal(5, s.TopK);
        Assert.Equal(0.1f, s.MinP);
        Assert.Equal(0.3f, s.Temperature);
        Assert.Equal(["END"], s.Stop);
        Assert.Null(s.Tenant);

        var (rejected, error) = await host.Client.SendJson(Http.Anthropic("""{"model":"fake-model","max_tokens":8,"min_p":0.1,"messages":[{"role":"user","content":"hi"}]}""", "2026-10-21"));
        Assert.Contains("min_p", Http.AssertAnthropicError(rejected, error, 400, "invalid_request_error"), StringComparison.Ordinal);
    }

    [Fact]
    public void Api_key_files_map_keys_to_tenants_and_reject_malformed_lines()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["# team keys", "", "sk-alice-1 alice", "sk-alice-2\talice", "sk-solo"]);
            var map = ServeCommand.ReadKeyFile(new FileInfo(path));
            Assert.Equal("alice", map["sk-alice-1"]);
            Assert.Equal("alice", map["sk-alice-2"]);
            Assert.Equal(FathomServerOptions.TenantOfKey("sk-solo"), map["sk-solo"]);
            Assert.DoesNotContain("sk-solo", map["sk-solo"], StringComparison.Ordinal);
            Assert.Equal(3, map.Count);

            File.WriteAllLines(path, ["sk-a alice extra"]);
            Assert.Throws<Fathom.Cli.CliUsageException>(() => ServeCommand.ReadKeyFile(new FileInfo(path)));
            File.WriteAllLines(path, ["sk-a alice", "sk-a bob"]);
            Assert.Throws<Fathom.Cli.CliUsageException>(() => ServeCommand.ReadKeyFile(new FileInfo(path)));
            File.WriteAllLines(path, ["# nothing"]);
            Assert.Throws<Fathom.Cli.CliUsageException>(() => ServeCommand.ReadKeyFile(new FileInfo(path)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
