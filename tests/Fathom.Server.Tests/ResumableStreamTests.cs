using System.Text;
using System.Text.Json;

namespace Fathom.Server.Tests;

/// <summary>Streams that opt in carry event ids and can be resumed with Last-Event-ID after a dropped connection.</summary>
public sealed class ResumableStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Body = """{"model":"fake-model","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"tell me"}]}""";

    private static HttpRequestMessage Request(string? lastEventId = null, bool optIn = true)
    {
        var request = Http.Anthropic(Body);
        if (optIn)
            request.Headers.Add("fathom-resumable", "true");
        if (lastEventId is not null)
            request.Headers.Add("Last-Event-ID", lastEventId);
        return request;
    }

    /// <summary>Reads whole events (id, event, data) until <paramref name="stop"/> says so.</summary>
    private static async Task<List<(string Id, string Event, string Data)>> ReadEvents(StreamReader reader, Func<List<(string Id, string Event, string Data)>, bool> stop)
    {
        var events = new List<(string, string, string)>();
        string id = "", name = "", data = "";
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.Length == 0)
            {
                events.Add((id, name, data));
                (id, name, data) = ("", "", "");
                if (stop(events))
                    break;
                continue;
            }
            if (line.StartsWith("id: ", StringComparison.Ordinal))
                id = line[4..];
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
                name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
                data = line[6..];
        }
        return events;
    }

    private static string Text(IEnumerable<(string Id, string Event, string Data)> events) => string.Concat(events
        .Where(e => e.Event == "content_block_delta")
        .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("text").GetString()));

    [Fact]
    public async Task A_dropped_stream_resumed_with_Last_Event_ID_continues_the_same_generation()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { StreamResumeGrace = TimeSpan.FromSeconds(30) });
        host.Backend.Reply = "one two three four five six seven eight";
        host.Backend.TokenDelay = TimeSpan.FromMilliseconds(20);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var response = await host.Client.SendAsync(Request(), HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var first = await ReadEvents(reader, e => e.Count(x => x.Event == "content_block_delta") == 2);
        string requestId = response.Headers.GetValues("request-id").Single();
        Assert.All(first, e => Assert.StartsWith(requestId + ":", e.Id, StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(1, first.Count).Select(i => $"{requestId}:{i}"), first.Select(e => e.Id));
        await cts.CancelAsync();
        response.Dispose();

        var resumed = await host.Client.SendAsync(Request(first[^1].Id), HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(200, (int)resumed.StatusCode);
        var rest = await ReadEvents(new StreamReader(await resumed.Content.ReadAsStreamAsync(Ct)), _ => false);
        Assert.Equal("message_stop", rest[^1].Event);
        Assert.Equal($"{requestId}:{first.Count + 1}", rest[0].Id);
        Assert.Equal(host.Backend.Reply, Text(first) + Text(rest));
        Assert.Equal(1, host.Backend.Generations);

        // Within the grace period the finished stream can still be replayed from any point.
        var again = await host.Client.SendAsync(Request($"{requestId}:0"), Ct);
        var all = Http.ParseSse(await again.Content.ReadAsStringAsync(Ct));
        Assert.Equal(first.Count + rest.Count, all.Count);
        Assert.Equal(1, host.Backend.Generations);
    }

    [Fact]
    public async Task Unknown_streams_other_tenants_and_streams_without_opt_in_cannot_be_resumed()
    {
        var keys = new Dictionary<string, string> { ["key-a"] = "alice", ["key-b"] = "bob" };
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { KeyTenants = keys });
        var unknown = Request("req_doesnotexist:3");
        unknown.Headers.Add("x-api-key", "key-a");
        var (r1, b1) = await host.Client.SendJson(unknown);
        Http.AssertAnthropicError(r1, b1, 404, "not_found_error");

        var plain = Request(optIn: false);
        plain.Headers.Add("x-api-key", "key-a");
        var plainResponse = await host.Client.SendAsync(plain, Ct);
        string plainText = await plainResponse.Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain("\nid: ", "\n" + plainText, StringComparison.Ordinal);
        var (r2, b2) = await host.Client.SendJson(Request(plainResponse.Headers.GetValues("request-id").Single() + ":1").WithKey("key-a"));
        Http.AssertAnthropicError(r2, b2, 404, "not_found_error");

        var owned = await host.Client.SendAsync(Request().WithKey("key-a"), Ct);
        Assert.Contains("id: ", await owned.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        string id = owned.Headers.GetValues("request-id").Single() + ":1";
        var (r3, b3) = await host.Client.SendJson(Request(id).WithKey("key-b"));
        Http.AssertAnthropicError(r3, b3, 404, "not_found_error");
        var mine = await host.Client.SendAsync(Request(id).WithKey("key-a"), Ct);
        Assert.Equal(200, (int)mine.StatusCode);
    }
}

internal static class ResumableRequestExtensions
{
    public static HttpRequestMessage WithKey(this HttpRequestMessage request, string key)
    {
        request.Headers.Add("x-api-key", key);
        return request;
    }
}
