using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Fathom.Engine;
using Fathom.Server.Backends;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Logging;

namespace Fathom.Server.Tests;

/// <summary>The server over the real engine and the demo model: load, disconnects, tenants, cache_control, metrics, audit.</summary>
public sealed class EngineServingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-serving-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Served(InferenceEngine engine, WebApplication app) : IAsyncDisposable
    {
        public InferenceEngine Engine => engine;
        public HttpClient Client { get; } = app.GetTestClient();

        private bool _disposed;

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
                return;
            _disposed = true;
            Client.Dispose();
            await app.DisposeAsync();
            engine.Dispose();
        }
    }

    private async Task<Served> Start(FathomServerOptions? options = null, int parked = 0)
    {
        var engine = InferenceEngine.Load(DemoModel.Ensure(Path.Combine(_dir, "cache")), new EngineOptions { ContextLength = 512, MaxSequences = 8, ParkedSessions = parked });
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.AddFathomServer(new EngineBackend(engine, DemoModel.Id, "Demo", DateTimeOffset.UnixEpoch) { MinCacheableTokens = 16 }, options);
        var app = builder.Build();
        app.UseFathomErrors();
        app.MapFathomAnthropic();
        app.MapFathomOpenAI();
        app.MapFathomObservability();
        await app.StartAsync(Ct);
        return new Served(engine, app);
    }

    private static HttpRequestMessage Chat(string body, string key = "k")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    /// <summary>Pages return to the pool at the engine's next step; wait for it rather than for a fixed time.</summary>
    private static async Task AssertAllPagesFree(InferenceEngine engine)
    {
        for (int i = 0; i < 1000 && (engine.Stats.PagesInUse > 0 || engine.Stats.Running > 0); i++)
            await Task.Delay(10, Ct);
        Assert.Equal(0, engine.Stats.Running);
        Assert.Equal(0, engine.Stats.PagesInUse);
    }

    [Fact]
    public async Task Thirty_two_streaming_clients_times_five_requests_all_succeed_and_every_KV_page_comes_back()
    {
        await using var s = await Start();
        int errors = 0, done = 0;
        await Task.WhenAll(Enumerable.Range(0, 32).Select(client => Task.Run(async () =>
        {
            for (int r = 0; r < 5; r++)
            {
                bool anthropic = (client + r) % 2 == 0;
                HttpRequestMessage request = anthropic
                    ? Http.Anthropic($$"""{"model":"fathom-demo","max_tokens":6,"stream":true,"messages":[{"role":"user","content":"client {{client}} request {{r}}"}]}""")
                    : Chat($$"""{"model":"fathom-demo","max_completion_tokens":6,"stream":true,"messages":[{"role":"user","content":"client {{client}} request {{r}}"}]}""");
                using var response = await s.Client.SendAsync(request, Ct);
                string text = await response.Content.ReadAsStringAsync(Ct);
                var events = Http.ParseSse(text);
                bool ok = response.IsSuccessStatusCode && (anthropic ? events[^1].Event == "message_stop" : events[^1].Data == "[DONE]");
                if (!ok)
                    Interlocked.Increment(ref errors);
                Interlocked.Increment(ref done);
            }
        }, Ct)));
        Assert.Equal(0, errors);
        Assert.Equal(160, done);
        await AssertAllPagesFree(s.Engine);
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_cancels_its_generation_and_frees_its_pages()
    {
        await using var s = await Start();
        // The demo model is fast and may sample its end token early: a generation that is already over when the
        // client reads its first delta tests nothing, so such an attempt is dropped and another prompt tried.
        for (int attempt = 0; ; attempt++)
        {
            Assert.True(attempt < 10, "every generation ended before the client read its first delta");
            string before = OutputTokens(await s.Client.GetStringAsync("/metrics", Ct));
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var request = Http.Anthropic($$"""{"model":"fathom-demo","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"go on forever, take {{attempt}}"}]}""");
            var response = await s.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            var stream = await response.Content.ReadAsStreamAsync(cts.Token);
            var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync(cts.Token) is { } line && !line.Contains("content_block_delta", StringComparison.Ordinal))
            {
            }
            bool midStream = s.Engine.Stats.PagesInUse > 0;
            await cts.CancelAsync();
            response.Dispose();
            await AssertAllPagesFree(s.Engine);
            if (!midStream)
                continue;
            // A cancelled generation counts no output tokens.
            Assert.Equal(before, OutputTokens(await s.Client.GetStringAsync("/metrics", Ct)));
            return;
        }
    }

    private static string OutputTokens(string metrics) =>
        System.Text.RegularExpressions.Regex.Match(metrics, @"^fathom_output_tokens_total (\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline).Groups[1].Value;

    /// <summary>A prefill continuation extends the previous prompt exactly (byte-level vocabulary), so the engine can reuse its KV.</summary>
    private static string Continue(string prefill, string system = "You are terse.", string? mark = null) =>
        $$"""{"model":"fathom-demo","max_tokens":1,"system":[{"type":"text","text":"{{system}}"{{mark}}}],"messages":[{"role":"user","content":"Tell me a story"},{"role":"assistant","content":"{{prefill}}"}]}""";

    [Fact]
    public async Task Prefix_caches_are_shared_within_a_tenant_and_never_across_tenants()
    {
        var keys = new Dictionary<string, string> { ["key-a"] = "alice", ["key-a2"] = "alice", ["key-b"] = "bob" };
        await using var s = await Start(new FathomServerOptions { KeyTenants = keys }, parked: 4);
        async Task<int> Cached(string key, string prefill)
        {
            var request = Http.Anthropic(Continue(prefill));
            request.Headers.Add("x-api-key", key);
            var (response, json) = await s.Client.SendJson(request);
            Assert.Equal(200, (int)response.StatusCode);
            return json.GetProperty("usage").GetProperty("cache_read_input_tokens").GetInt32();
        }
        Assert.Equal(0, await Cached("key-a", "Once upon a time"));
        Assert.True(await Cached("key-a2", "Once upon a time there was") > 0, "a second key of the same tenant reuses the prefix");
        Assert.Equal(0, await Cached("key-b", "Once upon a time there was a king"));
        Assert.True(await Cached("key-b", "Once upon a time there was a king who") > 0);
    }

    [Fact]
    public async Task Cache_control_writes_then_reads_the_marked_prefix_and_usage_adds_up()
    {
        await using var s = await Start(parked: 4);
        string system = string.Join(" ", Enumerable.Range(0, 60).Select(i => $"rule{i}"));
        const string mark = ""","cache_control":{"type":"ephemeral","ttl":"1h"}""";
        var (r1, first) = await s.Client.SendJson(Http.Anthropic(Continue("Once", system, mark)));
        Assert.Equal(200, (int)r1.StatusCode);
        var u1 = first.GetProperty("usage");
        int write = u1.GetProperty("cache_creation_input_tokens").GetInt32();
        Assert.True(write >= 16, $"the marked system prompt is written to the cache ({write})");
        Assert.Equal(write, u1.GetProperty("cache_creation").GetProperty("ephemeral_1h_input_tokens").GetInt32());
        Assert.Equal(0, u1.GetProperty("cache_read_input_tokens").GetInt32());
        int total1 = u1.GetProperty("input_tokens").GetInt32() + write;

        var (_, second) = await s.Client.SendJson(Http.Anthropic(Continue("Once upon", system, mark)));
        var u2 = second.GetProperty("usage");
        int read = u2.GetProperty("cache_read_input_tokens").GetInt32();
        Assert.True(read >= write, $"the second request reads the marked prefix ({read} of {write})");
        Assert.Equal(0, u2.GetProperty("cache_creation_input_tokens").GetInt32());
        Assert.Equal(total1 + " upon".Length, u2.GetProperty("input_tokens").GetInt32() + read);
    }

    [Fact]
    public async Task Health_metrics_and_the_audit_log_report_requests_and_tokens()
    {
        string audit = Path.Combine(_dir, "audit", "audit.jsonl");
        await using var s = await Start(new FathomServerOptions { ApiKeys = ["k"], AuditLogPath = audit });
        var health = JsonDocument.Parse(await s.Client.GetStringAsync("/health", Ct)).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal("fathom-demo", health.GetProperty("models")[0].GetString());

        var (response, json) = await s.Client.SendJson(Chat("""{"model":"fathom-demo","max_completion_tokens":3,"messages":[{"role":"user","content":"secret prompt"}]}"""));
        Assert.Equal(200, (int)response.StatusCode);
        int prompt = json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        int completion = json.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        var (bad, _) = await s.Client.SendJson(Chat("""{"model":"nope","messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal(404, (int)bad.StatusCode);

        var unauthorized = await s.Client.GetAsync("/metrics", Ct);
        Assert.Equal(401, (int)unauthorized.StatusCode);
        var scrape = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        scrape.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k");
        var metricsResponse = await s.Client.SendAsync(scrape, Ct);
        Assert.StartsWith("text/plain", metricsResponse.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        string metrics = await metricsResponse.Content.ReadAsStringAsync(Ct);
        Assert.Contains("# TYPE fathom_requests_total counter", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_requests_total{endpoint=\"/v1/chat/completions\",status=\"404\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"fathom_input_tokens_total {prompt}\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"fathom_output_tokens_total {completion}\n", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_time_to_first_token_seconds_count 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_kv_pages{state=\"free\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_queue_depth 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_prefix_cache_hit_ratio", metrics, StringComparison.Ordinal);

        await s.DisposeAsync();
        var lines = File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var ok = lines.Single(l => l.GetProperty("status").GetInt32() == 200 && l.GetProperty("endpoint").GetString() == "/v1/chat/completions");
        Assert.Equal(FathomServerOptions.TenantOfKey("k"), ok.GetProperty("tenant").GetString());
        Assert.Equal("fathom-demo", ok.GetProperty("model").GetString());
        Assert.Equal(prompt, ok.GetProperty("input_tokens").GetInt32());
        Assert.Equal(completion, ok.GetProperty("output_tokens").GetInt32());
        Assert.StartsWith("req_", ok.GetProperty("request_id").GetString(), StringComparison.Ordinal);
        Assert.Contains(lines, l => l.GetProperty("status").GetInt32() == 404);
        Assert.DoesNotContain("secret prompt", File.ReadAllText(audit), StringComparison.Ordinal);
    }
    [Fact]
    public async Task The_audit_log_carries_the_hosted_cost_estimate_when_a_cost_model_is_set()
    {
        string audit = Path.Combine(_dir, "audit-cost", "audit.jsonl");
        await using var s = await Start(new FathomServerOptions { AuditLogPath = audit, HostedCostModel = "claude-opus-4-6" });
        var (response, json) = await s.Client.SendJson(Chat("""{"model":"fathom-demo","max_completion_tokens":3,"messages":[{"role":"user","content":"what does it cost"}]}"""));
        Assert.Equal(200, (int)response.StatusCode);
        var usage = json.GetProperty("usage");
        long prompt = usage.GetProperty("prompt_tokens").GetInt32(), completion = usage.GetProperty("completion_tokens").GetInt32();
        await s.DisposeAsync();

        var line = File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(l => l.GetProperty("endpoint").GetString() == "/v1/chat/completions");
        var cost = line.GetProperty("estimated_cost");
        var price = Fathom.Cost.PriceTable.Default.Find("claude-opus-4-6");
        long cached = line.GetProperty("cached_input_tokens").GetInt32();
        decimal expected = ((prompt - cached) * price.InputPerMTok + cached * price.InputPerMTok * Fathom.Cost.PriceTable.Default.CacheReadMultiplier
            + completion * price.OutputPerMTok) / 1_000_000m;
        Assert.Equal("claude-opus-4-6", cost.GetProperty("model").GetString());
        Assert.Equal(expected, cost.GetProperty("total").GetDecimal());
    }

    [Fact]
    public void A_cost_model_missing_from_the_price_table_is_refused_at_startup()
    {
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        var ex = Assert.Throws<ArgumentException>(() => services.AddFathomServer(new FakeBackend(), new FathomServerOptions { HostedCostModel = "no-such-model" }));
        Assert.Contains("no-such-model", ex.Message, StringComparison.Ordinal);
    }
}
