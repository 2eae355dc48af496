using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Models.Messages;
using Fathom.Engine;
using StopReason = Anthropic.Models.Messages.StopReason;
using Fathom.Server.Backends;
using Fathom.Tools;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Logging;
using OpenAI;
using OpenAI.Chat;

namespace Fathom.Server.Tests;

/// <summary>
/// tool_choice any (Anthropic 13.12.0) and required (OpenAI 2.15.0) over the real engine and the random-weight demo
/// model: whatever the model's weights, the reply is calls to declared tools whose input fits that tool's schema,
/// exactly one when parallel calls are off; in the Hermes and the Qwen3-Coder XML formats, streamed and not.
/// </summary>
public sealed class ForcedToolCallTests : IDisposable
{
    private const string WeatherSchema = """
        {"type":"object","properties":{"city":{"enum":["Paris","Oslo"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"],"additionalProperties":false}
        """;

    private const string TimeSchema = """{"type":"object","properties":{"zone":{"type":"string","enum":["CET","UTC"]}},"required":["zone"],"additionalProperties":false}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-forced-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Served(InferenceEngine engine, WebApplication app) : IAsyncDisposable
    {
        public HttpClient Client { get; } = app.GetTestClient();

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await app.DisposeAsync();
            engine.Dispose();
        }
    }

    private async Task<Served> Start(ToolCallFormat format)
    {
        var engine = InferenceEngine.Load(DemoModel.Ensure(Path.Combine(_dir, "cache")), new EngineOptions { ContextLength = 2048, MaxSequences = 2 });
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.AddFathomServer(new EngineBackend(engine, DemoModel.Id, "Demo", DateTimeOffset.UnixEpoch).WithToolCallFormat(format));
        var app = builder.Build();
        app.UseFathomErrors();
        app.MapFathomAnthropic();
        app.MapFathomOpenAI();
        await app.StartAsync(Ct);
        return new Served(engine, app);
    }

    /// <summary>Null when <paramref name="input"/> fits the declared tool's schema, else why not.</summary>
    private static string? Check(string name, string input)
    {
        using var doc = JsonDocument.Parse(input);
        var o = doc.RootElement;
        var keys = o.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        return name switch
        {
            "get_weather" when keys.SequenceEqual(["city", "days"]) && o.GetProperty("city").GetString() is "Paris" or "Oslo"
                && o.GetProperty("days").TryGetInt32(out int d) && d is >= 1 and <= 7 => null,
            "get_time" when keys.SequenceEqual(["zone"]) && o.GetProperty("zone").GetString() is "CET" or "UTC" => null,
            _ => $"{name} {input} does not fit",
        };
    }

    private static AnthropicClient Anthropic(Served s) => new(new ClientOptions
    {
        BaseUrl = "http://localhost",
        ApiKey = "sk-test",
        HttpClient = s.Client,
        MaxRetries = 0,
        ResponseValidation = true,
    });

    private static MessageCreateParams AnthropicParams(bool disableParallel)
    {
        static InputSchema Schema(string json)
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            return new InputSchema
            {
                Properties = root.GetProperty("properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
                Required = [.. root.GetProperty("required").EnumerateArray().Select(r => r.GetString()!)],
            };
        }
        return new MessageCreateParams
        {
            Model = DemoModel.Id,
            MaxTokens = 1500,
            Tools = [new Tool { Name = "get_weather", InputSchema = Schema(WeatherSchema) }, new Tool { Name = "get_time", InputSchema = Schema(TimeSchema) }],
            ToolChoice = new ToolChoiceAny { DisableParallelToolUse = disableParallel },
            Messages = [new UserMessageParam("Weather in Paris and the time?")],
        };
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes, false, true)]
    [InlineData(ToolCallFormat.Hermes, true, false)]
    [InlineData(ToolCallFormat.Qwen3Coder, false, false)]
    [InlineData(ToolCallFormat.Qwen3Coder, true, true)]
    public async Task Anthropic_tool_choice_any_calls_declared_tools_with_input_that_fits(ToolCallFormat format, bool stream, bool disableParallel)
    {
        await using var s = await Start(format);
        var p = AnthropicParams(disableParallel);
        var calls = new List<(string Name, string Input)>();
        string? stopReason;
        bool text = false;
        if (!stream)
        {
            var message = await Anthropic(s).Messages.Create(p, Ct);
            message.Validate();
            foreach (var block in message.Content)
            {
                if (block.TryPickToolUse(out var use))
                    calls.Add((use.Name, JsonSerializer.Serialize(use.Input)));
                else
                    text = true;
            }
            stopReason = message.StopReason is null ? null : (StopReason)message.StopReason == StopReason.ToolUse ? "tool_use"
                : (StopReason)message.StopReason == StopReason.MaxTokens ? "max_tokens" : "other";
        }
        else
        {
            var json = new StringBuilder();
            stopReason = null;
            await foreach (var e in Anthropic(s).Messages.CreateStreaming(p, Ct))
            {
                e.Validate();
                if (e.TryPickContentBlockStart(out var start))
                {
                    if (start.ContentBlock.TryPickToolUse(out var use))
                        calls.Add((use.Name, ""));
                    else
                        text = true;
                }
                else if (e.TryPickContentBlockDelta(out var d) && d.Delta.TryPickInputJson(out var ij))
                    calls[^1] = (calls[^1].Name, calls[^1].Input + ij.PartialJson);
                else if (e.TryPickDelta(out var md))
                    stopReason = md.Delta.StopReason;
            }
        }
        Assert.False(text, "the reply has text besides the calls");
        Assert.NotEmpty(calls);
        if (disableParallel)
            Assert.Single(calls);
        // A parallel run may be cut by max_tokens in a further call; every finished call fits.
        Assert.True(stopReason == "tool_use" || (!disableParallel && stopReason == "max_tokens"), stopReason);
        foreach (var (name, input) in stopReason == "tool_use" || !stream ? calls : calls.SkipLast(1))
            Assert.Null(Check(name, input));
    }

    private static ChatClient OpenAI(Served s) => new(DemoModel.Id, new ApiKeyCredential("sk-test"), new OpenAIClientOptions
    {
        Endpoint = new Uri("http://localhost/v1"),
        Transport = new HttpClientPipelineTransport(s.Client),
        RetryPolicy = new ClientRetryPolicy(0),
    });

    private static ChatCompletionOptions OpenAIOptions(bool parallel) => new()
    {
        Tools =
        {
            ChatTool.CreateFunctionTool("get_weather", "Current weather.", BinaryData.FromString(WeatherSchema)),
            ChatTool.CreateFunctionTool("get_time", "Current time.", BinaryData.FromString(TimeSchema)),
        },
        ToolChoice = ChatToolChoice.CreateRequiredChoice(),
        AllowParallelToolCalls = parallel,
        MaxOutputTokenCount = 1500,
    };

    [Theory]
    [InlineData(ToolCallFormat.Hermes, false, false)]
    [InlineData(ToolCallFormat.Hermes, true, true)]
    [InlineData(ToolCallFormat.Qwen3Coder, false, true)]
    [InlineData(ToolCallFormat.Qwen3Coder, true, false)]
    public async Task OpenAI_tool_choice_required_calls_declared_tools_with_arguments_that_fit(ToolCallFormat format, bool stream, bool parallel)
    {
        await using var s = await Start(format);
        var options = OpenAIOptions(parallel);
        List<ChatMessage> messages = [new UserChatMessage("Weather in Paris and the time?")];
        var calls = new List<(string Name, string Args)>();
        ChatFinishReason? finish = null;
        string content = "";
        if (!stream)
        {
            ChatCompletion completion = await OpenAI(s).CompleteChatAsync(messages, options, Ct);
            finish = completion.FinishReason;
            calls.AddRange(completion.ToolCalls.Select(c => (c.FunctionName, c.FunctionArguments.ToString())));
            content = string.Concat(completion.Content.Select(c => c.Text));
        }
        else
        {
            var names = new SortedDictionary<int, string>();
            var args = new Dictionary<int, StringBuilder>();
            await foreach (var update in OpenAI(s).CompleteChatStreamingAsync(messages, options, Ct))
            {
                foreach (var t in update.ToolCallUpdates)
                {
                    if (t.FunctionName is not null)
                        names[t.Index] = t.FunctionName;
                    if (t.FunctionArgumentsUpdate is { } a && a.ToMemory().Length > 0)
                        (args.TryGetValue(t.Index, out var sb) ? sb : args[t.Index] = new StringBuilder()).Append(a.ToString());
                }
                content += string.Concat(update.ContentUpdate.Select(c => c.Text));
                finish ??= update.FinishReason;
            }
            calls.AddRange(names.Select(kv => (kv.Value, args.TryGetValue(kv.Key, out var sb) ? sb.ToString() : "{}")));
        }
        Assert.Equal("", content);
        Assert.NotEmpty(calls);
        if (!parallel)
            Assert.Single(calls);
        Assert.True(finish == ChatFinishReason.ToolCalls || (parallel && finish == ChatFinishReason.Length), finish?.ToString());
        foreach (var (name, a) in finish == ChatFinishReason.ToolCalls || !stream ? calls : calls.SkipLast(1))
            Assert.Null(Check(name, a));
    }
}
