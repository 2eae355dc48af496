using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Fathom.Server.Tests;

/// <summary>The Anthropic wire protocol over raw HTTP: event sequences, validation, versions, auth, envelopes.</summary>
public sealed class AnthropicProtocolTests
{
    private const string Simple = """{"model":"fake-model","max_tokens":32,"messages":[{"role":"user","content":"Hi there"}]}""";

    private static async Task<List<(string? Event, string Data)>> Stream(TestHost host, string body, string version = "2023-06-01")
    {
        var response = await host.Client.SendAsync(Http.Anthropic(body, version), TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        return Http.ParseSse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Stream_sends_every_event_in_order_with_event_lines_matching_the_data_type()
    {
        await using var host = await TestHost.StartAsync();
        var events = await Stream(host, Simple.Replace("\"max_tokens\":32", "\"max_tokens\":32,\"stream\":true", StringComparison.Ordinal));
        foreach (var (name, data) in events)
            Assert.Equal(name, JsonDocument.Parse(data).RootElement.GetProperty("type").GetString());
        var names = events.Select(e => e.Event).ToList();
        int words = host.Backend.Reply.Split(' ').Length;
        string?[] expected = ["message_start", "ping", "content_block_start", .. Enumerable.Repeat("content_block_delta", words), "content_block_stop", "message_delta", "message_stop"];
        Assert.Equal(expected, names);
        var start = JsonDocument.Parse(events[0].Data).RootElement.GetProperty("message");
        Assert.Equal(0, start.GetProperty("content").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, start.GetProperty("stop_reason").ValueKind);
        Assert.True(start.GetProperty("usage").GetProperty("output_tokens").GetInt32() >= 1);
        var delta = JsonDocument.Parse(events[^2].Data).RootElement;
        Assert.Equal("end_turn", delta.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(words, delta.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        string text = string.Concat(events.Where(e => e.Event == "content_block_delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("text").GetString()));
        Assert.Equal(host.Backend.Reply, text);
        Assert.DoesNotContain(events, e => e.Data == "[DONE]");
    }

    [Fact]
    public async Task Stop_sequence_cuts_the_text_and_reports_the_match()
    {
        await using var host = await TestHost.StartAsync();
        var body = """{"model":"fake-model","max_tokens":32,"stop_sequences":["fake"],"messages":[{"role":"user","content":"Hi"}]}""";
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("stop_sequence", json.GetProperty("stop_reason").GetString());
        Assert.Equal("fake", json.GetProperty("stop_sequence").GetString());
        Assert.Equal("Hello from the ", json.GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Max_tokens_reached_reports_max_tokens_and_the_json_carries_every_required_field()
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(Http.Anthropic(Simple.Replace("32", "2", StringComparison.Ordinal)));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("max_tokens", json.GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("stop_sequence").ValueKind);
        Assert.Equal("message", json.GetProperty("type").GetString());
        Assert.Equal("assistant", json.GetProperty("role").GetString());
        var usage = json.GetProperty("usage");
        Assert.Equal(2, usage.GetProperty("output_tokens").GetInt32());
        foreach (string field in (string[])["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"])
            Assert.Equal(JsonValueKind.Number, usage.GetProperty(field).ValueKind);
        Assert.Equal(0, usage.GetProperty("cache_creation").GetProperty("ephemeral_5m_input_tokens").GetInt32());
    }

    [Theory]
    [InlineData("""{"max_tokens":8,"messages":[{"role":"user","content":"x"}]}""", "model: Field required")]
    [InlineData("""{"model":"fake-model","messages":[{"role":"user","content":"x"}]}""", "max_tokens: Field required")]
    [InlineData("""{"model":"fake-model","max_tokens":0,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake-model","max_tokens":"8","messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"fake-model","max_tokens":8}""", "messages: Field required")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[]}""", "messages")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"robot","content":"x"}]}""", "messages.0.role")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":[]}]}""", "messages.0.content")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":42}]}""", "messages.0.content")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":[{"text":"x"}]}]}""", "messages.0.content.0.type: Field required")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}""", "messages.0.content.0.type")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}""", "temperature")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"system":7,"messages":[{"role":"user","content":"x"}]}""", "system")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"thinking":{"type":"enabled","budget_tokens":100},"messages":[{"role":"user","content":"x"}]}""", "thinking.budget_tokens")]
    [InlineData("""{"model":"fake-model","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":2000},"messages":[{"role":"user","content":"x"}]}""", "thinking.budget_tokens")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}""", "tools.0.type")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}},{"type":"text","text":"c","cache_control":{"type":"ephemeral"}},{"type":"text","text":"d","cache_control":{"type":"ephemeral"}},{"type":"text","text":"e","cache_control":{"type":"ephemeral"}}]}]}""", "maximum of 4")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"stop_sequences":[1],"messages":[{"role":"user","content":"x"}]}""", "stop_sequences.0")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"model":""", "not valid JSON")]
    public async Task Invalid_requests_get_400_invalid_request_error_naming_the_field(string body, string expected)
    {
        await using var host = await TestHost.StartAsync(new FakeBackend { MaxOutputTokens = 4096 });
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body));
        string message = Http.AssertAnthropicError(response, json, 400, "invalid_request_error");
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_utf8_gets_400_not_500()
    {
        await using var host = await TestHost.StartAsync();
        var request = Http.Anthropic("");
        request.Content = new ByteArrayContent([.. """{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":" """u8, 0xFF, 0xFE, .. "\"}]}"u8]);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var (response, json) = await host.Client.SendJson(request);
        Http.AssertAnthropicError(response, json, 400, "invalid_request_error");
    }

    [Theory]
    [InlineData("temperature", "0.5")]
    [InlineData("top_p", "0.9")]
    [InlineData("top_k", "5")]
    public async Task Sampling_parameters_are_accepted_on_2023_06_01_and_rejected_on_2026_10_21(string field, string value)
    {
        await using var host = await TestHost.StartAsync();
        string body = Simple.Replace("\"max_tokens\":32", $"\"max_tokens\":32,\"{field}\":{value}", StringComparison.Ordinal);
        var (ok, _) = await host.Client.SendJson(Http.Anthropic(body, "2023-06-01"));
        Assert.Equal(200, (int)ok.StatusCode);
        var (rejected, json) = await host.Client.SendJson(Http.Anthropic(body, "2026-10-21"));
        Assert.Equal($"{field}: Extra inputs are not permitted", Http.AssertAnthropicError(rejected, json, 400, "invalid_request_error"));
    }

    [Theory]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"}}]}]}""")]
    [InlineData("""{"model":"fake-model","max_tokens":8,"messages":[{"role":"user","content":[{"type":"text","text":"x","citations":[{"type":"char_location"}]}]}]}""")]
    public async Task Version_2026_10_21_rejects_assistant_documents_and_user_citations(string body)
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body, "2026-10-21"));
        Http.AssertAnthropicError(response, json, 400, "invalid_request_error");
    }

    [Fact]
    public async Task Unknown_version_is_400_and_a_missing_one_is_treated_as_2023_06_01()
    {
        await using var host = await TestHost.StartAsync();
        var (bad, json) = await host.Client.SendJson(Http.Anthropic(Simple, "2023-01-01"));
        Assert.Contains("anthropic-version", Http.AssertAnthropicError(bad, json, 400, "invalid_request_error"), StringComparison.Ordinal);
        var (ok, _) = await host.Client.SendJson(Http.Anthropic(Simple.Replace("\"max_tokens\":32", "\"max_tokens\":32,\"temperature\":0.2", StringComparison.Ordinal), version: null));
        Assert.Equal(200, (int)ok.StatusCode);
    }

    [Fact]
    public async Task Both_auth_styles_work_and_x_api_key_wins_over_bearer()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-good"] });
        var none = Http.Anthropic(Simple);
        var (r0, j0) = await host.Client.SendJson(none);
        Http.AssertAnthropicError(r0, j0, 401, "authentication_error");

        var xKey = Http.Anthropic(Simple);
        xKey.Headers.Add("x-api-key", "sk-good");
        Assert.Equal(200, (int)(await host.Client.SendAsync(xKey, TestContext.Current.CancellationToken)).StatusCode);

        var bearer = Http.Anthropic(Simple);
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-good");
        bearer.Headers.Add("anthropic-beta", "context-1m-2025-08-07, some-unknown-beta");
        Assert.Equal(200, (int)(await host.Client.SendAsync(bearer, TestContext.Current.CancellationToken)).StatusCode);

        var both = Http.Anthropic(Simple);
        both.Headers.Add("x-api-key", "sk-bad");
        both.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-good");
        var (r3, j3) = await host.Client.SendJson(both);
        Http.AssertAnthropicError(r3, j3, 401, "authentication_error");
    }

    [Fact]
    public async Task Unknown_model_is_404_not_found_error()
    {
        await using var host = await TestHost.StartAsync();
        var (response, json) = await host.Client.SendJson(Http.Anthropic(Simple.Replace("fake-model", "other", StringComparison.Ordinal)));
        Assert.Equal("model: other", Http.AssertAnthropicError(response, json, 404, "not_found_error"));
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_400_with_both_numbers()
    {
        await using var host = await TestHost.StartAsync(new FakeBackend { ContextLength = 10 });
        string body = Simple.Replace("Hi there", string.Join(' ', Enumerable.Repeat("word", 20)), StringComparison.Ordinal).Replace("32", "8", StringComparison.Ordinal);
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body));
        Assert.Equal("prompt is too long: 23 tokens > 10 maximum", Http.AssertAnthropicError(response, json, 400, "invalid_request_error"));
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { MaxRequestBytes = 64 });
        var (response, json) = await host.Client.SendJson(Http.Anthropic(Simple + new string(' ', 100)));
        Http.AssertAnthropicError(response, json, 413, "request_too_large");
    }

    [Fact]
    public async Task Unknown_routes_and_wrong_methods_get_json_errors()
    {
        await using var host = await TestHost.StartAsync();
        var (r404, j404) = await host.Client.SendJson(Http.Anthropic("{}", path: "/v1/nothing-here"));
        Http.AssertAnthropicError(r404, j404, 404, "not_found_error");
        var get = new HttpRequestMessage(HttpMethod.Get, "/v1/messages");
        var (r405, j405) = await host.Client.SendJson(get);
        Http.AssertAnthropicError(r405, j405, 405, "invalid_request_error");
    }

    [Fact]
    public async Task Overload_before_the_stream_is_a_529_json_error_not_sse()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.FailBeforeStart = new ApiException(529, "Overloaded");
        var (response, json) = await host.Client.SendJson(Http.Anthropic(Simple.Replace("\"max_tokens\":32", "\"max_tokens\":32,\"stream\":true", StringComparison.Ordinal)));
        Http.AssertAnthropicError(response, json, 529, "overloaded_error");
    }

    [Fact]
    public async Task A_failure_mid_stream_ends_with_an_error_event_and_no_message_stop()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.FailAfterTokens = 2;
        var events = await Stream(host, Simple.Replace("\"max_tokens\":32", "\"max_tokens\":32,\"stream\":true", StringComparison.Ordinal));
        Assert.Equal("error", events[^1].Event);
        var error = JsonDocument.Parse(events[^1].Data).RootElement;
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("api_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.DoesNotContain(events, e => e.Event == "message_stop");
    }

    [Fact]
    public async Task System_as_blocks_mid_conversation_system_turns_and_merged_turns_reach_the_backend()
    {
        await using var host = await TestHost.StartAsync();
        string body = """
            {"model":"fake-model","max_tokens":8,
             "system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral","ttl":"1h"}},{"type":"text","text":"Be kind."}],
             "cache_control":{"type":"ephemeral"},
             "messages":[{"role":"user","content":"one"},{"role":"user","content":[{"type":"text","text":"two"}]},
                         {"role":"system","content":"mid"},{"role":"user","content":"three"},
                         {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"text","text":"Sure,"}]}]}
            """;
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body, "2026-10-21"));
        Assert.Equal(200, (int)response.StatusCode);
        var turns = host.Backend.LastPrompt!.Turns;
        Assert.Equal(["system", "user", "system", "user", "assistant"], turns.Select(t => t.Role));
        Assert.Equal("Be brief.\nBe kind.", turns[0].Content);
        Assert.Equal("one\n\ntwo", turns[1].Content);
        Assert.Equal("Sure,", turns[4].Content);
        Assert.True(host.Backend.LastPrompt.EndsWithPrefill);
        Assert.Equal("end_turn", json.GetProperty("stop_reason").GetString());
    }

    [Fact]
    public async Task Count_tokens_applies_the_same_validation_and_version_rules()
    {
        await using var host = await TestHost.StartAsync();
        var (ok, json) = await host.Client.SendJson(Http.Anthropic("""{"model":"fake-model","messages":[{"role":"user","content":"a b c"}]}""", path: "/v1/messages/count_tokens"));
        Assert.Equal(200, (int)ok.StatusCode);
        Assert.Equal(6, json.GetProperty("input_tokens").GetInt32());
        var (bad, badJson) = await host.Client.SendJson(Http.Anthropic("""{"model":"fake-model","temperature":0.5,"messages":[{"role":"user","content":"x"}]}""", "2026-10-21", "/v1/messages/count_tokens"));
        Http.AssertAnthropicError(bad, badJson, 400, "invalid_request_error");
    }

    [Fact]
    public async Task Models_route_answers_in_the_Anthropic_shape_when_anthropic_version_is_sent()
    {
        await using var host = await TestHost.StartAsync();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("anthropic-version", "2026-10-21");
        var (response, json) = await host.Client.SendJson(request);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.False(json.GetProperty("has_more").GetBoolean());
        Assert.Equal("fake-model", json.GetProperty("first_id").GetString());
        var model = json.GetProperty("data")[0];
        Assert.Equal("active", model.GetProperty("lifecycle").GetString());
        Assert.Equal("2026-11-20T09:14:00Z", model.GetProperty("created_at").GetString());
        var missing = new HttpRequestMessage(HttpMethod.Get, "/v1/models/none");
        missing.Headers.Add("anthropic-version", "2026-10-21");
        var (r404, j404) = await host.Client.SendJson(missing);
        Http.AssertAnthropicError(r404, j404, 404, "not_found_error");
    }

    [Fact]
    public async Task Signatures_are_stable_for_the_same_thinking_and_differ_otherwise()
    {
        Assert.Equal(Anthropic.AnthropicEndpoints.Signature("abc"), Anthropic.AnthropicEndpoints.Signature("abc"));
        Assert.NotEqual(Anthropic.AnthropicEndpoints.Signature("abc"), Anthropic.AnthropicEndpoints.Signature("abd"));
        await Task.CompletedTask;
    }
}
