using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Fathom.Server.Tests;

/// <summary>Tool calls and structured output on the OpenAI surface: the 2.15.0 SDK, tool_choice, parallel_tool_calls, response_format and bad input.</summary>
public sealed class OpenAIToolTests
{
    private const string Calls = "Let me look . <tool_call> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} </tool_call> <tool_call> {\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}} </tool_call>";

    private static ChatClient Chat(TestHost host) => new(FakeBackend.ModelId, new ApiKeyCredential("sk-test"), new OpenAIClientOptions
    {
        Endpoint = new Uri("http://localhost/v1"),
        Transport = new HttpClientPipelineTransport(host.Client),
        RetryPolicy = new ClientRetryPolicy(0),
    });

    private static ChatCompletionOptions Options() => new()
    {
        Tools =
        {
            ChatTool.CreateFunctionTool("get_weather", "Current weather.", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""")),
            ChatTool.CreateFunctionTool("get_time", "Current time.", BinaryData.FromString("""{"type":"object","properties":{"tz":{"type":"string"}}}""")),
        },
    };

    [Fact]
    public async Task CompleteChat_returns_tool_calls_and_the_results_go_back_in_a_second_turn()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.Reply = Calls;
        var ct = TestContext.Current.CancellationToken;
        var chat = Chat(host);
        List<ChatMessage> messages = [new UserChatMessage("Weather and time in Paris?")];
        ChatCompletion first = await chat.CompleteChatAsync(messages, Options(), ct);
        Assert.Equal(ChatFinishReason.ToolCalls, first.FinishReason);
        Assert.Equal(["get_weather", "get_time"], first.ToolCalls.Select(c => c.FunctionName));
        Assert.All(first.ToolCalls, c => Assert.StartsWith("call_", c.Id, StringComparison.Ordinal));
        Assert.Equal("Paris", JsonDocument.Parse(first.ToolCalls[0].FunctionArguments.ToString()).RootElement.GetProperty("city").GetString());
        Assert.Equal("Let me look .", Assert.Single(first.Content).Text);

        messages.Add(new AssistantChatMessage(first));
        messages.Add(new ToolChatMessage(first.ToolCalls[0].Id, "18C"));
        messages.Add(new ToolChatMessage(first.ToolCalls[1].Id, "14:05"));
        host.Backend.Reply = "Sunny , 18C at 14:05 .";
        ChatCompletion second = await chat.CompleteChatAsync(messages, Options(), ct);
        Assert.Equal(ChatFinishReason.Stop, second.FinishReason);
        Assert.Equal(host.Backend.Reply, second.Content[0].Text);
        var turns = host.Backend.LastPrompt!.Turns;
        Assert.Equal(["user", "assistant", "tool", "tool"], turns.Select(t => t.Role));
        Assert.Equal(first.ToolCalls.Select(c => c.Id), turns[1].ToolCalls!.Select(c => c.Id));
        Assert.Equal((first.ToolCalls[1].Id, "get_time", "14:05"), (turns[3].ToolCallId, turns[3].ToolName, turns[3].Content));
    }

    [Fact]
    public async Task CompleteChatStreaming_reassembles_the_tool_calls_from_deltas()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.Reply = Calls;
        var names = new Dictionary<int, string>();
        var ids = new Dictionary<int, string>();
        var args = new Dictionary<int, StringBuilder>();
        int fragments = 0;
        ChatFinishReason? finish = null;
        await foreach (var update in Chat(host).CompleteChatStreamingAsync([new UserChatMessage("Weather?")], Options(), TestContext.Current.CancellationToken))
        {
            foreach (var t in update.ToolCallUpdates)
            {
                if (t.FunctionName is not null)
                    names[t.Index] = t.FunctionName;
                if (t.ToolCallId is not null)
                    ids[t.Index] = t.ToolCallId;
                if (t.FunctionArgumentsUpdate is { } a && a.ToMemory().Length > 0)
                {
                    (args.TryGetValue(t.Index, out var sb) ? sb : args[t.Index] = new StringBuilder()).Append(a.ToString());
                    fragments++;
                }
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("get_weather", names[0]);
        Assert.Equal("get_time", names[1]);
        Assert.NotEqual(ids[0], ids[1]);
        Assert.Equal("""{"city": "Paris"}""", args[0].ToString());
        Assert.Equal("""{"tz": "CET"}""", args[1].ToString());
        Assert.True(fragments > 2, $"{fragments} argument fragments");
    }

    [Fact]
    public async Task Required_tool_choice_forces_a_call_and_parallel_false_keeps_one()
    {
        await using var host = await TestHost.StartAsync();
        // With "required" the prefix opens a call and a grammar over every declared tool constrains the rest.
        host.Backend.Reply = "\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}\n</tool_call> <tool_call> {\"name\": \"get_weather\", \"arguments\": {}} </tool_call>";
        var options = Options();
        options.ToolChoice = ChatToolChoice.CreateRequiredChoice();
        options.AllowParallelToolCalls = false;
        ChatCompletion completion = await Chat(host).CompleteChatAsync([new UserChatMessage("Time?")], options, TestContext.Current.CancellationToken);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.Equal("get_time", Assert.Single(completion.ToolCalls).FunctionName);
        Assert.Empty(completion.Content);
        Assert.Equal("<tool_call>", host.Backend.LastSettings!.ForcedPrefix);
        Assert.NotNull(host.Backend.LastSettings.Grammar);
    }

    [Fact]
    public async Task Response_format_json_schema_becomes_a_grammar_and_an_unsupported_feature_is_named()
    {
        await using var host = await TestHost.StartAsync();
        const string ok = """{"model":"fake-model","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{"type":"object","properties":{"code":{"type":"string"}},"required":["code"]}}}}""";
        var (response, _) = await host.Client.SendJson(Http.OpenAI(ok));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.NotNull(host.Backend.LastSettings!.Grammar);

        var (objResponse, _) = await host.Client.SendJson(Http.OpenAI(ok.Replace("\"json_schema\",\"json_schema\"", "\"json_object\",\"ignored\"", StringComparison.Ordinal)));
        Assert.Equal(200, (int)objResponse.StatusCode);
        Assert.Same(Fathom.Sampling.JsonSchemaGrammar.JsonObject, host.Backend.LastSettings!.Grammar);

        var (bad, json) = await host.Client.SendJson(Http.OpenAI(ok.Replace("{\"type\":\"string\"}", "{\"type\":\"string\",\"pattern\":\"^[A-Z]+$\"}", StringComparison.Ordinal)));
        var error = Http.AssertOpenAIError(bad, json, 400, "invalid_request_error");
        Assert.Equal("response_format.json_schema.schema.properties.code.pattern", error.GetProperty("param").GetString());
        Assert.Contains("pattern", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"tool_choice":{"type":"function","function":{"name":"nope"}}}""", "tool_choice.function.name")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":7}}}}}]}""", "tools[0].function.parameters.properties.a.type")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"string"}}}]}""", "tools[0].function.parameters.type")]
    [InlineData("""{"tools":[{"type":"retrieval"}]}""", "tools[0].type")]
    [InlineData("""{"tool_choice":"sometimes"}""", "tool_choice")]
    public async Task Bad_tool_input_is_a_400_with_the_param(string extra, string param)
    {
        await using var host = await TestHost.StartAsync();
        using var doc = JsonDocument.Parse(extra);
        var body = new Dictionary<string, JsonElement>
        {
            ["model"] = JsonSerializer.SerializeToElement(FakeBackend.ModelId),
            ["tools"] = JsonDocument.Parse("""[{"type":"function","function":{"name":"f"}}]""").RootElement,
            ["messages"] = JsonDocument.Parse("""[{"role":"user","content":"Hi"}]""").RootElement,
        };
        foreach (var p in doc.RootElement.EnumerateObject())
            body[p.Name] = p.Value;
        var (response, json) = await host.Client.SendJson(Http.OpenAI(JsonSerializer.Serialize(body)));
        var error = Http.AssertOpenAIError(response, json, 400, "invalid_request_error");
        Assert.Equal(param, error.GetProperty("param").GetString());
    }
}
