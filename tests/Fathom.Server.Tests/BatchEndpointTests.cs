using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Models.Messages;
using Anthropic.Models.Messages.Batches;

namespace Fathom.Server.Tests;

/// <summary>Message Batches over HTTP: the official SDK round trip, raw-HTTP rules, tenants, and a restart mid-batch.</summary>
public sealed class BatchEndpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-batches-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AnthropicClient Client(TestHost host, string key = "sk-test") => new(new ClientOptions
    {
        BaseUrl = "http://localhost",
        ApiKey = key,
        HttpClient = host.Client,
        MaxRetries = 0,
        ResponseValidation = true,
    });

    private static HttpRequestMessage Raw(HttpMethod method, string path, string? body = null, string key = "sk-test")
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        request.Headers.Add("anthropic-version", "2023-06-01");
        request.Headers.Add("x-api-key", key);
        return request;
    }

    private static string Body(int n, string extra = "") =>
        "{\"requests\":[" + string.Join(",", Enumerable.Range(0, n).Select(i =>
            $$$"""{"custom_id":"req-{{{i}}}","params":{"model":"{{{FakeBackend.ModelId}}}","max_tokens":16,{{{extra}}}"messages":[{"role":"user","content":"Question {{{i}}}"}]}}""")) + "]}";

    private static async Task<JsonElement> WaitEnded(TestHost host, string id, string key = "sk-test")
    {
        for (int i = 0; i < 2000; i++)
        {
            var (_, batch) = await host.Client.SendJson(Raw(HttpMethod.Get, $"/v1/messages/batches/{id}", key: key));
            if (batch.GetProperty("processing_status").GetString() == "ended")
                return batch;
            await Task.Delay(10, Ct);
        }
        throw new TimeoutException($"batch {id} did not end");
    }

    private static async Task<List<JsonElement>> ResultLines(TestHost host, string id)
    {
        var response = await host.Client.SendAsync(Raw(HttpMethod.Get, $"/v1/messages/batches/{id}/results"), Ct);
        Assert.Equal(200, (int)response.StatusCode);
        string text = await response.Content.ReadAsStringAsync(Ct);
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
    }

    [Fact]
    public async Task The_official_SDK_creates_a_batch_retrieves_it_and_streams_its_results()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-test"] });
        var client = Client(host);
        var created = await client.Messages.Batches.Create(new BatchCreateParams
        {
            Requests =
            [
                new() { CustomID = "first", Params = new() { Model = FakeBackend.ModelId, MaxTokens = 16, Messages = [new UserMessageParam("Hello")] } },
                new() { CustomID = "second", Params = new() { Model = FakeBackend.ModelId, MaxTokens = 2, Messages = [new UserMessageParam("Hi")] } },
            ],
        }, Ct);
        created.Validate();
        Assert.StartsWith("msgbatch_", created.ID, StringComparison.Ordinal);
        Assert.Equal(created.CreatedAt.AddHours(24), created.ExpiresAt);

        await WaitEnded(host, created.ID);
        var batch = await client.Messages.Batches.Retrieve(new BatchRetrieveParams { MessageBatchID = created.ID }, Ct);
        batch.Validate();
        Assert.Equal(2, batch.RequestCounts.Succeeded);
        Assert.Equal($"http://localhost/v1/messages/batches/{created.ID}/results", batch.ResultsUrl);

        var results = new Dictionary<string, Message>();
        await foreach (var line in client.Messages.Batches.ResultsStreaming(new BatchResultsParams { MessageBatchID = created.ID }, Ct))
        {
            line.Validate();
            Assert.True(line.Result.TryPickSucceeded(out var ok));
            results.Add(line.CustomID, ok.Message);
        }
        Assert.Equal(["first", "second"], results.Keys.Order());
        Assert.True(Assert.Single(results["first"].Content).TryPickText(out var text));
        Assert.Equal(host.Backend.Reply, text.Text);
        Assert.Equal(StopReason.MaxTokens, (StopReason)results["second"].StopReason!);

        var page = await client.Messages.Batches.List(new BatchListParams(), Ct);
        Assert.Equal(created.ID, Assert.Single(page.Items).ID);
        var deleted = await client.Messages.Batches.Delete(new BatchDeleteParams { MessageBatchID = created.ID }, Ct);
        Assert.Equal(created.ID, deleted.ID);
        var (gone, body) = await host.Client.SendJson(Raw(HttpMethod.Get, $"/v1/messages/batches/{created.ID}"));
        Http.AssertAnthropicError(gone, body, 404, "not_found_error");
    }

    [Fact]
    public async Task Invalid_requests_become_errored_results_and_envelope_errors_fail_the_create()
    {
        await using var host = await TestHost.StartAsync();
        string body = """{"requests":[{"custom_id":"ok","params":{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}},""" +
            """{"custom_id":"no-max","params":{"model":"fake-model","messages":[{"role":"user","content":"Hi"}]}},""" +
            """{"custom_id":"bad-model","params":{"model":"nope","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}},""" +
            """{"custom_id":"streamed","params":{"model":"fake-model","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"Hi"}]}}]}""";
        var (response, created) = await host.Client.SendJson(Raw(HttpMethod.Post, "/v1/messages/batches", body));
        Assert.Equal(200, (int)response.StatusCode);
        string id = created.GetProperty("id").GetString()!;
        foreach (string field in (string[])["ended_at", "cancel_initiated_at", "archived_at", "results_url"])
            Assert.Equal(JsonValueKind.Null, created.GetProperty(field).ValueKind);
        var ended = await WaitEnded(host, id);
        Assert.Equal(1, ended.GetProperty("request_counts").GetProperty("succeeded").GetInt32());
        Assert.Equal(3, ended.GetProperty("request_counts").GetProperty("errored").GetInt32());
        var lines = (await ResultLines(host, id)).ToDictionary(l => l.GetProperty("custom_id").GetString()!, l => l.GetProperty("result"));
        Assert.Equal("succeeded", lines["ok"].GetProperty("type").GetString());
        Assert.Equal("batch", lines["ok"].GetProperty("message").GetProperty("usage").GetProperty("service_tier").GetString());
        var error = lines["no-max"].GetProperty("error");
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("max_tokens", error.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("not_found_error", lines["bad-model"].GetProperty("error").GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", lines["streamed"].GetProperty("error").GetProperty("error").GetProperty("type").GetString());

        foreach (string bad in (string[])[
            """{"requests":[]}""",
            """{"requests":[{"custom_id":"a b","params":{}}]}""",
            """{"requests":[{"custom_id":"a","params":{}},{"custom_id":"a","params":{}}]}""",
            """{"requests":[{"custom_id":"a"}]}""",
            """{"nothing":1}"""])
        {
            var (r, b) = await host.Client.SendJson(Raw(HttpMethod.Post, "/v1/messages/batches", bad));
            Http.AssertAnthropicError(r, b, 400, "invalid_request_error");
        }
    }

    [Fact]
    public async Task Cancel_ends_a_running_batch_with_canceled_results_and_delete_needs_an_ended_batch()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.TokenDelay = TimeSpan.FromMilliseconds(50);
        var (_, created) = await host.Client.SendJson(Raw(HttpMethod.Post, "/v1/messages/batches", Body(5)));
        string id = created.GetProperty("id").GetString()!;

        var (early, earlyBody) = await host.Client.SendJson(Raw(HttpMethod.Get, $"/v1/messages/batches/{id}/results"));
        Http.AssertAnthropicError(early, earlyBody, 400, "invalid_request_error");
        var (del, delBody) = await host.Client.SendJson(Raw(HttpMethod.Delete, $"/v1/messages/batches/{id}"));
        Http.AssertAnthropicError(del, delBody, 400, "invalid_request_error");

        var (_, canceled) = await host.Client.SendJson(Raw(HttpMethod.Post, $"/v1/messages/batches/{id}/cancel"));
        Assert.Equal("ended", canceled.GetProperty("processing_status").GetString());
        Assert.NotEqual(JsonValueKind.Null, canceled.GetProperty("cancel_initiated_at").ValueKind);
        var counts = canceled.GetProperty("request_counts");
        Assert.Equal(5, counts.GetProperty("canceled").GetInt32() + counts.GetProperty("succeeded").GetInt32());
        Assert.True(counts.GetProperty("canceled").GetInt32() >= 4);
        var lines = await ResultLines(host, id);
        Assert.Equal(5, lines.Count);
        Assert.Equal(5, lines.Select(l => l.GetProperty("custom_id").GetString()).Distinct().Count());

        var (deleted, deletedBody) = await host.Client.SendJson(Raw(HttpMethod.Delete, $"/v1/messages/batches/{id}"));
        Assert.Equal(200, (int)deleted.StatusCode);
        Assert.Equal("message_batch_deleted", deletedBody.GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_batch_is_invisible_to_other_tenants()
    {
        var keys = new Dictionary<string, string> { ["key-a"] = "alice", ["key-b"] = "bob" };
        string audit = Path.Combine(_dir, "audit.jsonl");
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { KeyTenants = keys, AuditLogPath = audit });
        var (_, created) = await host.Client.SendJson(Raw(HttpMethod.Post, "/v1/messages/batches", Body(1), key: "key-a"));
        string id = created.GetProperty("id").GetString()!;
        await WaitEnded(host, id, key: "key-a");
        Assert.Equal("alice", host.Backend.LastSettings!.Tenant);
        foreach (var (method, path) in new[] { (HttpMethod.Get, $"/v1/messages/batches/{id}"), (HttpMethod.Get, $"/v1/messages/batches/{id}/results"), (HttpMethod.Post, $"/v1/messages/batches/{id}/cancel"), (HttpMethod.Delete, $"/v1/messages/batches/{id}") })
        {
            var (r, b) = await host.Client.SendJson(Raw(method, path, key: "key-b"));
            Http.AssertAnthropicError(r, b, 404, "not_found_error");
        }
        var (_, list) = await host.Client.SendJson(Raw(HttpMethod.Get, "/v1/messages/batches", key: "key-b"));
        Assert.Equal(0, list.GetProperty("data").GetArrayLength());
        Assert.False(list.GetProperty("has_more").GetBoolean());

        using var shared = new StreamReader(new FileStream(audit, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        var line = (await shared.ReadToEndAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).Single(l => l.GetProperty("method").GetString() == "BATCH");
        Assert.Equal("alice", line.GetProperty("tenant").GetString());
        Assert.Equal($"{id}/req-0", line.GetProperty("request_id").GetString());
        Assert.Equal(FakeBackend.ModelId, line.GetProperty("model").GetString());
        Assert.True(line.GetProperty("output_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task A_server_stopped_mid_batch_resumes_after_restart_without_losing_or_duplicating_results()
    {
        var options = new FathomServerOptions { DataDirectory = _dir };
        var backend = new FakeBackend { TokenDelay = TimeSpan.FromMilliseconds(15) };
        string id;
        const int n = 6;
        await using (var host = await TestHost.StartAsync(backend, options))
        {
            var (_, created) = await host.Client.SendJson(Raw(HttpMethod.Post, "/v1/messages/batches", Body(n)));
            id = created.GetProperty("id").GetString()!;
            for (int i = 0; i < 2000; i++)
            {
                var (_, b) = await host.Client.SendJson(Raw(HttpMethod.Get, $"/v1/messages/batches/{id}"));
                if (b.GetProperty("request_counts").GetProperty("succeeded").GetInt32() >= 2)
                    break;
                await Task.Delay(5, Ct);
            }
        }
        int before = backend.Generations;
        Assert.InRange(before, 2, n);
        await using (var host = await TestHost.StartAsync(backend, options))
        {
            var (_, resumed) = await host.Client.SendJson(Raw(HttpMethod.Get, $"/v1/messages/batches/{id}"));
            Assert.Equal(id, resumed.GetProperty("id").GetString());
            var ended = await WaitEnded(host, id);
            Assert.Equal(n, ended.GetProperty("request_counts").GetProperty("succeeded").GetInt32());
            var lines = await ResultLines(host, id);
            Assert.Equal(n, lines.Count);
            Assert.Equal(Enumerable.Range(0, n).Select(i => $"req-{i}"), lines.Select(l => l.GetProperty("custom_id").GetString()).Order());
            Assert.All(lines, l => Assert.Equal("succeeded", l.GetProperty("result").GetProperty("type").GetString()));
        }
        Assert.InRange(backend.Generations, n, n + 1);
    }

    [Fact]
    public async Task Batch_work_waits_while_an_interactive_request_is_in_flight()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.TokenDelay = TimeSpan.FromMilliseconds(40);
        var interactive = host.Client.SendAsync(Http.Anthropic($$"""{"model":"{{FakeBackend.ModelId}}","max_tokens":16,"messages":[{"role":"user","content":"now"}]}"""), Ct);
        while (host.Backend.Generations == 0)
            await Task.Delay(5, Ct);
        var (_, created) = await host.Client.SendJson(Raw(HttpMethod.Post, "/v1/messages/batches", Body(1)));
        await Task.Delay(100, Ct);
        Assert.Equal(1, host.Backend.Generations);
        Assert.Equal(200, (int)(await interactive).StatusCode);
        await WaitEnded(host, created.GetProperty("id").GetString()!);
        Assert.Equal(2, host.Backend.Generations);
    }
}
