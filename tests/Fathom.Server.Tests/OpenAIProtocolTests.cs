using System.Text.Json;

namespace Fathom.Server.Tests;

/// <summary>The OpenAI wire protocol over raw HTTP: chunks, [DONE], usage chunk, validation, envelopes.</summary>
public sealed class OpenAIProtocolTests
{
    private const string Simple = """{"model":"fake-model","messages":[{"role":"user","content":"Hi there"}]}""";

    private static async Task<List<(string? Event, string Data)>> Stream(TestHost host, string body)
    {
        var response = await host.Client.SendAsync(Http.OpenAI(body), TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        return Http.ParseSse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Stream_chunks_start_with_the_role_end_with_DONE_and_carry_usage_only_when_asked(bool includeUsage)
    {
        await using var host = await TestHost.StartAsync();
        string body = Simple.Replace("\"messages\"", $"\"stream\":true,\"stream_options\":{{\"include_usage\":{(includeUsage ? "true" : "false")}}},\"messages\"", StringComparison.Ordinal);
        var events = await Stream(host, body);
        Assert.All(events, e => Assert.Null(e.Event));
        Assert.Equal("[DONE]", events[^1].Data);
        var chunks = events.SkipLast(1).Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var withChoices = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).ToList();
        Assert.Equal("stop", withChoices[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.All(withChoices.SkipLast(1), c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
        Assert.All(withChoices, c => Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind));
        string text = string.Concat(withChoices.Select(c => c.GetProperty("choices")[0].GetProperty("delta"))
            .Select(d => d.TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal(host.Backend.Reply, text);
        if (includeUsage)
        {
            var usage = chunks[^1];
            Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
            Assert.Equal(host.Backend.Reply.Split(' ').Length, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Equal(0, usage.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        }
        else
            Assert.Equal(withChoices.Count, chunks.Count);
    }

    [Fact]
    public async Task Non_streaming_response_has_every_field_and_a_valid_finish_reason()
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(Http.OpenAI(Simple.Replace("\"messages\"", "\"max_tokens\":3,\"stop\":\"never\",\"messages\"", StringComparison.Ordinal)));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("chat.completion", json.GetProperty("object").GetString());
        Assert.StartsWith("chatcmpl-", json.GetProperty("id").GetString(), StringComparison.Ordinal);
        var choice = json.GetProperty("choices")[0];
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("refusal").ValueKind);
        var usage = json.GetProperty("usage");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + 3, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task N_choices_are_indexed_and_usage_sums_their_tokens()
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(Http.OpenAI(Simple.Replace("\"messages\"", "\"n\":2,\"messages\"", StringComparison.Ordinal)));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal([0, 1], json.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(2 * host.Backend.Reply.Split(' ').Length, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"fake-model"}""", "messages")]
    [InlineData("""{"model":"fake-model","messages":[]}""", "messages")]
    [InlineData("""{"model":"fake-model","messages":[{"role":"robot","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"fake-model","messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"model":"fake-model","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"model":"fake-model","top_logprobs":2,"messages":[{"role":"user","content":"x"}]}""", "top_logprobs")]
    [InlineData("""{"model":"fake-model","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"x"}]}""", "stop")]
    [InlineData("""{"model":"fake-model","temperature":3,"messages":[{"role":"user","content":"x"}]}""", "temperature")]
    [InlineData("""{"model":"fake-model","max_completion_tokens":0,"messages":[{"role":"user","content":"x"}]}""", "max_completion_tokens")]
    [InlineData("""{"model":"fake-model","response_format":{"type":"yaml"},"messages":[{"role":"user","content":"x"}]}""", "response_format.type")]
    public async Task Invalid_requests_get_400_with_param_naming_the_field(string body, string param)
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(Http.OpenAI(body));
        var error = Http.AssertOpenAIError(response, json, 400, "invalid_request_error");
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Tool_turns_and_assistant_turns_without_content_are_accepted()
    {
        await using var host = await TestHost.StartAsync();
        string body = """
            {"model":"fake-model","messages":[
              {"role":"developer","content":[{"type":"text","text":"Rules."}]},
              {"role":"user","content":"Weather?"},
              {"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny"}]}
            """;
        var (response, _) = await host.Client.SendJson(Http.OpenAI(body));
        Assert.Equal(200, (int)response.StatusCode);
        var turns = host.Backend.LastPrompt!.Turns;
        Assert.Equal(["system", "user", "assistant", "tool"], turns.Select(t => t.Role));
        Assert.Equal(("get", "{\"city\":\"Paris\"}", "call_1"), (turns[2].ToolCalls![0].Name, turns[2].ToolCalls![0].Arguments, turns[2].ToolCalls![0].Id));
        Assert.Equal(("call_1", "get", "sunny"), (turns[3].ToolCallId, turns[3].ToolName, turns[3].Content));
    }

    [Fact]
    public async Task Unknown_model_is_404_model_not_found_and_missing_key_is_401()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-test"] });
        var (r404, j404) = await host.Client.SendJson(Http.OpenAI(Simple.Replace("fake-model", "gpt-x", StringComparison.Ordinal)));
        Assert.Equal("model_not_found", Http.AssertOpenAIError(r404, j404, 404, "invalid_request_error").GetProperty("code").GetString());
        var noKey = Http.OpenAI(Simple);
        noKey.Headers.Authorization = null;
        var (r401, j401) = await host.Client.SendJson(noKey);
        Assert.Equal("invalid_api_key", Http.AssertOpenAIError(r401, j401, 401, "invalid_request_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Context_overflow_is_400_context_length_exceeded()
    {
        await using var host = await TestHost.StartAsync(new FakeBackend { ContextLength = 5 });
        var (response, json) = await host.Client.SendJson(Http.OpenAI(Simple.Replace("Hi there", "a b c d e f", StringComparison.Ordinal)));
        Assert.Equal("context_length_exceeded", Http.AssertOpenAIError(response, json, 400, "invalid_request_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Models_route_answers_in_the_OpenAI_shape_without_anthropic_version()
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(new HttpRequestMessage(HttpMethod.Get, "/v1/models"));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("list", json.GetProperty("object").GetString());
        var model = json.GetProperty("data")[0];
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal(new DateTimeOffset(2026, 11, 20, 9, 14, 0, TimeSpan.Zero).ToUnixTimeSeconds(), model.GetProperty("created").GetInt64());
        var (r404, j404) = await host.Client.SendJson(new HttpRequestMessage(HttpMethod.Get, "/v1/models/none"));
        Http.AssertOpenAIError(r404, j404, 404, "invalid_request_error");
    }
}
