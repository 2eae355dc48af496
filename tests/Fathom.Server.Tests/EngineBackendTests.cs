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

/// <summary>The HTTP surfaces over the real engine and a tiny fixture model.</summary>
public sealed class EngineBackendTests
{
    private static string Fixture(string name) => Path.Combine(TestSupport.FixturePaths.Fixtures, "models", name);

    private static async Task<(WebApplication App, HttpClient Client)> Start(InferenceEngine engine)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.AddFathomServer(new EngineBackend(engine, "tiny", "Tiny", DateTimeOffset.UnixEpoch));
        var app = builder.Build();
        app.UseFathomErrors();
        app.MapFathomAnthropic();
        app.MapFathomOpenAI();
        await app.StartAsync();
        return (app, app.GetTestClient());
    }

    [Fact]
    public async Task Messages_generate_with_the_engine_and_count_tokens_matches_the_rendered_prompt()
    {
        using var engine = InferenceEngine.Load(Fixture("tiny-llama-q8_0.gguf"), new EngineOptions { ContextLength = 256, MaxSequences = 2 });
        var (app, client) = await Start(engine);
        await using var _ = app;
        var ct = TestContext.Current.CancellationToken;
        string body = """{"model":"tiny","max_tokens":4,"temperature":0,"messages":[{"role":"user","content":"Hello there"}]}""";
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        var response = await client.SendAsync(request, ct);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct)).RootElement;
        Assert.Equal(200, (int)response.StatusCode);
        int expectedPrompt = engine.RenderPrompt([new EngineMessage("user", "Hello there")]).Length;
        var usage = json.GetProperty("usage");
        Assert.Equal(expectedPrompt, usage.GetProperty("input_tokens").GetInt32() + usage.GetProperty("cache_read_input_tokens").GetInt32());
        Assert.InRange(usage.GetProperty("output_tokens").GetInt32(), 1, 4);
        Assert.Contains(json.GetProperty("stop_reason").GetString(), (string[])["max_tokens", "end_turn"]);

        var count = new HttpRequestMessage(HttpMethod.Post, "/v1/messages/count_tokens")
        {
            Content = new StringContent("""{"model":"tiny","messages":[{"role":"user","content":"Hello there"}]}""", Encoding.UTF8, "application/json"),
        };
        count.Headers.Add("anthropic-version", "2026-10-21");
        var counted = JsonDocument.Parse(await (await client.SendAsync(count, ct)).Content.ReadAsStringAsync(ct)).RootElement;
        Assert.Equal(expectedPrompt, counted.GetProperty("input_tokens").GetInt32());

        var chat = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"tiny","max_completion_tokens":3,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}""", Encoding.UTF8, "application/json"),
        };
        chat.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "x");
        var chatResponse = await client.SendAsync(chat, ct);
        var events = Http.ParseSse(await chatResponse.Content.ReadAsStringAsync(ct));
        Assert.Equal("[DONE]", events[^1].Data);
        var usageChunk = JsonDocument.Parse(events[^2].Data).RootElement.GetProperty("usage");
        Assert.InRange(usageChunk.GetProperty("completion_tokens").GetInt32(), 1, 3);
    }
}
