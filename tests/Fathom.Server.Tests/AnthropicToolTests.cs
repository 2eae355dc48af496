using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;

namespace Fathom.Server.Tests;

/// <summary>Tool use and structured output on the Anthropic surface: the 13.12.0 SDK, tool_choice, output_config, the wire events and bad input.</summary>
public sealed class AnthropicToolTests
{
    private const string Call = "I will check . <tool_call> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}} </tool_call>";

    private static AnthropicClient Client(TestHost host) => new(new ClientOptions
    {
        BaseUrl = "http://localhost",
        ApiKey = "sk-test",
        HttpClient = host.Client,
        MaxRetries = 0,
        ResponseValidation = true,
    });

    private static Tool Weather() => new()
    {
        Name = "get_weather",
        Description = "Current weather for a city.",
        InputSchema = new InputSchema
        {
            Properties = new Dictionary<string, JsonElement>
            {
                ["city"] = JsonDocument.Parse("""{"type": "string"}""").RootElement.Clone(),
                ["days"] = JsonDocument.Parse("""{"type": "integer"}""").RootElement.Clone(),
            },
            Required = ["city"],
        },
    };

    private static MessageCreateParams Params(params MessageParam[] messages) => new()
    {
        Model = FakeBackend.ModelId,
        MaxTokens = 64,
        Tools = [Weather()],
        Messages = messages,
    };

    [Fact]
    public async Task Create_returns_a_tool_use_block_and_the_result_goes_back_in_a_second_turn()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.Reply = Call;
        var client = Client(host);
        var ct = TestContext.Current.CancellationToken;
        var first = await client.Messages.Create(Params(new UserMessageParam("Weather in Paris?")), ct);
        first.Validate();
        Assert.Equal(StopReason.ToolUse, (StopReason)first.StopReason!);
        Assert.Equal(2, first.Content.Count);
        Assert.True(first.Content[0].TryPickText(out var text));
        Assert.Equal("I will check .", text.Text);
        Assert.True(first.Content[1].TryPickToolUse(out var use));
        Assert.StartsWith("toolu_", use.ID, StringComparison.Ordinal);
        Assert.Equal("get_weather", use.Name);
        Assert.Equal("Paris", use.Input["city"].GetString());
        Assert.Equal(2, use.Input["days"].GetInt32());
        Assert.True(use.Caller.TryPickDirect(out _));
        Assert.Equal("get_weather", Assert.Single(host.Backend.LastPrompt!.Tools).Name);

        host.Backend.Reply = "It is sunny .";
        var second = await client.Messages.Create(Params(
            new UserMessageParam("Weather in Paris?"),
            new AssistantMessageParam(new MessageContentParam([
                new TextBlockParam("I will check ."),
                new ToolUseBlockParam { ID = use.ID, Name = use.Name, Input = use.Input },
            ])),
            new UserMessageParam(new MessageContentParam([new ToolResultBlockParam(use.ID) { Content = "18C and sunny", IsError = false }]))), ct);
        second.Validate();
        Assert.Equal(StopReason.EndTurn, (StopReason)second.StopReason!);
        var turns = host.Backend.LastPrompt!.Turns;
        var assistant = turns[^2];
        Assert.Equal("assistant", assistant.Role);
        var call = Assert.Single(assistant.ToolCalls!);
        Assert.Equal(use.ID, call.Id);
        Assert.Equal("Paris", JsonDocument.Parse(call.Arguments).RootElement.GetProperty("city").GetString());
        var result = turns[^1];
        Assert.Equal(("tool", "18C and sunny", use.ID, "get_weather"), (result.Role, result.Content, result.ToolCallId, result.ToolName));
    }

    [Fact]
    public async Task CreateStreaming_streams_the_call_as_a_tool_use_block_with_input_json_deltas()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.Reply = Call;
        var blocks = new List<string>();
        var json = new StringBuilder();
        int jsonDeltas = 0;
        string? toolName = null, stopReason = null;
        await foreach (var e in Client(host).Messages.CreateStreaming(Params(new UserMessageParam("Weather?")), TestContext.Current.CancellationToken))
        {
            e.Validate();
            if (e.TryPickContentBlockStart(out var start))
            {
                blocks.Add(start.ContentBlock.Json.GetProperty("type").GetString()!);
                if (start.ContentBlock.TryPickToolUse(out var use))
                {
                    toolName = use.Name;
                    Assert.Empty(use.Input);
                }
            }
            else if (e.TryPickContentBlockDelta(out var d) && d.Delta.TryPickInputJson(out var ij))
            {
                json.Append(ij.PartialJson);
                jsonDeltas++;
            }
            else if (e.TryPickDelta(out var md))
                stopReason = md.Delta.StopReason;
        }
        Assert.Equal(["text", "tool_use"], blocks);
        Assert.Equal("get_weather", toolName);
        Assert.True(jsonDeltas > 1, $"{jsonDeltas} input_json_delta events");
        Assert.Equal("""{"city": "Paris", "days": 2}""", json.ToString());
        Assert.Equal("tool_use", stopReason);
    }

    [Fact]
    public async Task Tool_choice_tool_forces_that_call_and_disable_parallel_keeps_one()
    {
        await using var host = await TestHost.StartAsync();
        // The forced prefix opens the call up to its arguments; the model writes the rest (and tries a second call).
        host.Backend.Reply = "{\"city\": \"Oslo\"}} </tool_call> <tool_call> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}} </tool_call>";
        var p = Params(new UserMessageParam("Weather?")) with { ToolChoice = new ToolChoiceTool { Name = "get_weather", DisableParallelToolUse = true } };
        var message = await Client(host).Messages.Create(p, TestContext.Current.CancellationToken);
        message.Validate();
        Assert.StartsWith("<tool_call>", host.Backend.LastSettings!.ForcedPrefix, StringComparison.Ordinal);
        Assert.Contains("\"get_weather\"", host.Backend.LastSettings.ForcedPrefix, StringComparison.Ordinal);
        // The named tool's arguments follow its input_schema.
        Assert.NotNull(host.Backend.LastSettings.Grammar);
        Assert.True(Assert.Single(message.Content).TryPickToolUse(out var use));
        Assert.Equal("Oslo", use.Input["city"].GetString());
        Assert.Equal(StopReason.ToolUse, (StopReason)message.StopReason!);
    }

    [Fact]
    public async Task Tool_choice_none_leaves_the_output_as_text()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.Reply = Call;
        var p = Params(new UserMessageParam("Weather?")) with { ToolChoice = new ToolChoiceNone() };
        var message = await Client(host).Messages.Create(p, TestContext.Current.CancellationToken);
        Assert.True(Assert.Single(message.Content).TryPickText(out var text));
        Assert.Equal(Call, text.Text);
        Assert.Equal(StopReason.EndTurn, (StopReason)message.StopReason!);
    }

    [Fact]
    public async Task CountTokens_counts_the_tool_definitions()
    {
        await using var host = await TestHost.StartAsync();
        var client = Client(host);
        var ct = TestContext.Current.CancellationToken;
        var without = await client.Messages.CountTokens(new MessageCountTokensParams { Model = FakeBackend.ModelId, Messages = [new UserMessageParam("Weather?")] }, ct);
        var with = await client.Messages.CountTokens(new MessageCountTokensParams { Model = FakeBackend.ModelId, Messages = [new UserMessageParam("Weather?")], Tools = [Weather()] }, ct);
        var prompt = new ChatPrompt([new ChatTurn("user", "Weather?")])
        {
            Tools = [new Fathom.Tools.ToolDefinition("get_weather", "Current weather for a city.", JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}""").RootElement)],
        };
        Assert.True(with.InputTokens > without.InputTokens);
        Assert.Equal(host.Backend.CountTokens(host.Backend.Models[0], prompt), with.InputTokens);
    }

    [Theory]
    [InlineData("""{"tool_choice":{"type":"tool","name":"nope"}}""", "tool_choice.name")]
    [InlineData("""{"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"strin"}}}}]}""", "tools.0.input_schema.properties.city.type")]
    [InlineData("""{"tools":[{"name":"get_weather","input_schema":{"type":"array"}}]}""", "tools.0.input_schema.type")]
    [InlineData("""{"tools":[{"name":"get weather","input_schema":{"type":"object"}}]}""", "tools.0.name")]
    [InlineData("""{"tools":[{"name":"a","input_schema":{"type":"object","required":"city"}}]}""", "tools.0.input_schema.required")]
    [InlineData("""{"tools":[{"name":"a","input_schema":{"type":"object"}},{"name":"a","input_schema":{"type":"object"}}]}""", "tools.1.name")]
    [InlineData("""{"tools":[{"type":"web_search_20250305","name":"web_search"}]}""", "tools.0.type")]
    [InlineData("""{"tool_choice":{"type":"any"},"thinking":{"type":"enabled","budget_tokens":1024},"max_tokens":2000}""", "tool_choice")]
    public async Task Bad_tool_input_is_a_400_that_names_the_place(string extra, string place)
    {
        await using var host = await TestHost.StartAsync(new FakeBackend { MaxOutputTokens = 4096 });
        using var doc = JsonDocument.Parse(extra);
        var body = new Dictionary<string, JsonElement>
        {
            ["model"] = JsonSerializer.SerializeToElement(FakeBackend.ModelId),
            ["max_tokens"] = JsonSerializer.SerializeToElement(32),
            ["tools"] = JsonDocument.Parse("""[{"name":"get_weather","input_schema":{"type":"object"}}]""").RootElement,
            ["messages"] = JsonDocument.Parse("""[{"role":"user","content":"Hi"}]""").RootElement,
        };
        foreach (var p in doc.RootElement.EnumerateObject())
            body[p.Name] = p.Value;
        var (response, json) = await host.Client.SendJson(Http.Anthropic(JsonSerializer.Serialize(body)));
        string message = Http.AssertAnthropicError(response, json, 400, "invalid_request_error");
        Assert.StartsWith(place + ":", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tool_result_that_answers_no_tool_use_is_rejected()
    {
        await using var host = await TestHost.StartAsync();
        const string body = """
            {"model":"fake-model","max_tokens":32,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],
             "messages":[{"role":"user","content":"Hi"},
                         {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}]},
                         {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"x"}],"is_error":true}]}]}
            """;
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body));
        string message = Http.AssertAnthropicError(response, json, 400, "invalid_request_error");
        Assert.StartsWith("messages.2.content.0.tool_use_id:", message, StringComparison.Ordinal);

        var (ok, okJson) = await host.Client.SendJson(Http.Anthropic(body.Replace("toolu_2", "toolu_1", StringComparison.Ordinal)));
        Assert.Equal(200, (int)ok.StatusCode);
        var result = host.Backend.LastPrompt!.Turns[^1];
        Assert.Equal(("tool", "Error: x"), (result.Role, result.Content));
        Assert.Equal("end_turn", okJson.GetProperty("stop_reason").GetString());
    }

    [Fact]
    public async Task Output_config_format_becomes_a_grammar_and_an_unsupported_feature_is_named()
    {
        await using var host = await TestHost.StartAsync();
        const string body = """{"model":"fake-model","max_tokens":16,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}},"messages":[{"role":"user","content":"Hi"}]}""";
        var (response, _) = await host.Client.SendJson(Http.Anthropic(body));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.NotNull(host.Backend.LastSettings!.Grammar);
        var (bad, json) = await host.Client.SendJson(Http.Anthropic(body.Replace("{\"type\":\"integer\"}", "{\"type\":\"integer\",\"multipleOf\":3}", StringComparison.Ordinal)));
        string message = Http.AssertAnthropicError(bad, json, 400, "invalid_request_error");
        Assert.StartsWith("output_config.format.schema.properties.n.multipleOf: 'multipleOf'", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Claude_Code_shaped_request_is_accepted_and_streamed()
    {
        await using var host = await TestHost.StartAsync(new FakeBackend { MaxOutputTokens = 32000, ContextLength = 4000 });
        host.Backend.Reply = "Reading the file . <tool_call> {\"name\": \"Read\", \"arguments\": {\"file_path\": \"/repo/src/main.cs\", \"limit\": 200}} </tool_call>";
        const string body = """
            {"model":"fake-model","max_tokens":32000,"stream":true,
             "metadata":{"user_id":"user_abc_account_123_session_456"},
             "thinking":{"type":"enabled","budget_tokens":31999},
             "system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}},
                       {"type":"text","text":"You are an interactive CLI tool that helps users with software engineering tasks.","cache_control":{"type":"ephemeral"}}],
             "tools":[{"name":"Read","description":"Reads a file from the local filesystem.",
                       "input_schema":{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path"},"offset":{"type":"number"},"limit":{"type":"number"}},
                                       "required":["file_path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}},
                      {"name":"Bash","description":"Executes a bash command.",
                       "input_schema":{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number"}},"required":["command"],"additionalProperties":false},
                       "cache_control":{"type":"ephemeral"}}],
             "messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>Context.</system-reminder>"},
                                                  {"type":"text","text":"What does main.cs do?","cache_control":{"type":"ephemeral"}}]}]}
            """;
        var request = Http.Anthropic(body, "2023-06-01");
        request.Headers.Add("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14");
        request.Headers.Add("x-app", "cli");
        var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        var events = Http.ParseSse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        foreach (var (name, data) in events)
            Assert.Equal(name, JsonDocument.Parse(data).RootElement.GetProperty("type").GetString());
        Assert.Equal("message_start", events[0].Event);
        Assert.Equal(["message_delta", "message_stop"], events[^2..].Select(e => e.Event));
        var starts = events.Where(e => e.Event == "content_block_start").Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("content_block")).ToList();
        Assert.Equal(["thinking", "text", "tool_use"], starts.Select(b => b.GetProperty("type").GetString()));
        Assert.Equal("Read", starts[2].GetProperty("name").GetString());
        Assert.Equal("direct", starts[2].GetProperty("caller").GetProperty("type").GetString());
        int toolIndex = JsonDocument.Parse(events.First(e => e.Event == "content_block_start" && e.Data.Contains("tool_use", StringComparison.Ordinal)).Data).RootElement.GetProperty("index").GetInt32();
        string input = string.Concat(events.Where(e => e.Event == "content_block_delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement)
            .Where(d => d.GetProperty("index").GetInt32() == toolIndex)
            .Select(d => d.GetProperty("delta").GetProperty("partial_json").GetString()));
        Assert.Equal("/repo/src/main.cs", JsonDocument.Parse(input).RootElement.GetProperty("file_path").GetString());
        Assert.Contains(events, e => e.Event == "content_block_delta" && e.Data.Contains("signature_delta", StringComparison.Ordinal));
        var stop = JsonDocument.Parse(events[^2].Data).RootElement;
        Assert.Equal("tool_use", stop.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(2, host.Backend.LastPrompt!.Tools.Count);
        Assert.True(host.Backend.LastSettings!.Thinking);
    }
}
