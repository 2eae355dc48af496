using Anthropic;
using Anthropic.Core;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;

namespace Fathom.Server.Tests;

/// <summary>The official Anthropic SDK (13.12.0) against the in-process server.</summary>
public sealed class AnthropicSdkTests
{
    private static AnthropicClient Client(TestHost host, string key = "sk-test") => new(new ClientOptions
    {
        BaseUrl = "http://localhost",
        ApiKey = key,
        HttpClient = host.Client,
        MaxRetries = 0,
        ResponseValidation = true,
    });

    private static MessageCreateParams Params(string text, long maxTokens = 32) => new()
    {
        Model = FakeBackend.ModelId,
        MaxTokens = maxTokens,
        System = "You are terse.",
        Messages = [new UserMessageParam(text)],
    };

    [Fact]
    public async Task Create_returns_the_generated_text_stop_reason_and_usage()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-test"] });
        host.Backend.CachedTokens = 4;
        var message = await Client(host).Messages.Create(Params("Say hello"), TestContext.Current.CancellationToken);
        message.Validate();
        Assert.StartsWith("msg_", message.ID, StringComparison.Ordinal);
        Assert.Equal(FakeBackend.ModelId, (string)message.Model);
        Assert.True(Assert.Single(message.Content).TryPickText(out var text));
        Assert.Equal(host.Backend.Reply, text.Text);
        Assert.Equal(StopReason.EndTurn, (StopReason)message.StopReason!);
        int promptTokens = host.Backend.CountTokens(host.Backend.Models[0], host.Backend.LastPrompt!);
        Assert.Equal(promptTokens - 4, message.Usage.InputTokens);
        Assert.Equal(4, message.Usage.CacheReadInputTokens);
        Assert.Equal(0, message.Usage.CacheCreationInputTokens);
        Assert.Equal(host.Backend.Reply.Split(' ').Length, message.Usage.OutputTokens);
        Assert.Equal("system", host.Backend.LastPrompt!.Turns[0].Role);
    }

    [Fact]
    public async Task CreateStreaming_yields_the_text_in_deltas_and_finishes_with_message_stop()
    {
        await using var host = await TestHost.StartAsync();
        var text = new System.Text.StringBuilder();
        var kinds = new List<string>();
        string? stopReason = null;
        long outputTokens = -1;
        await foreach (var e in Client(host).Messages.CreateStreaming(Params("Say hello"), TestContext.Current.CancellationToken))
        {
            e.Validate();
            if (e.TryPickStart(out _))
                kinds.Add("start");
            else if (e.TryPickContentBlockStart(out _))
                kinds.Add("block_start");
            else if (e.TryPickContentBlockDelta(out var d))
            {
                kinds.Add("delta");
                Assert.True(d.Delta.TryPickText(out var t));
                text.Append(t.Text);
            }
            else if (e.TryPickContentBlockStop(out _))
                kinds.Add("block_stop");
            else if (e.TryPickDelta(out var md))
            {
                kinds.Add("message_delta");
                stopReason = md.Delta.StopReason;
                outputTokens = md.Usage.OutputTokens;
            }
            else if (e.TryPickStop(out _))
                kinds.Add("stop");
        }
        Assert.Equal(host.Backend.Reply, text.ToString());
        Assert.Equal("start", kinds[0]);
        Assert.Equal("block_start", kinds[1]);
        Assert.Equal(["block_stop", "message_delta", "stop"], kinds[^3..]);
        Assert.Equal("end_turn", stopReason);
        Assert.Equal(host.Backend.Reply.Split(' ').Length, outputTokens);
    }

    [Fact]
    public async Task CreateStreaming_with_thinking_streams_a_signed_thinking_block_before_the_text()
    {
        await using var host = await TestHost.StartAsync(new FakeBackend { MaxOutputTokens = 4096 });
        var p = Params("Think first", 2048) with { Thinking = new ThinkingConfigEnabled { BudgetTokens = 1024 } };
        var thinking = new System.Text.StringBuilder();
        string? signature = null;
        var blockTypes = new List<string>();
        await foreach (var e in Client(host).Messages.CreateStreaming(p, TestContext.Current.CancellationToken))
        {
            if (e.TryPickContentBlockStart(out var s))
                blockTypes.Add(s.ContentBlock.Json.GetProperty("type").GetString()!);
            else if (e.TryPickContentBlockDelta(out var d))
            {
                if (d.Delta.TryPickThinking(out var th))
                    thinking.Append(th.Thinking);
                else if (d.Delta.TryPickSignature(out var sig))
                    signature = sig.Signature;
            }
        }
        Assert.Equal(["thinking", "text"], blockTypes);
        Assert.Equal(host.Backend.ThinkingText, thinking.ToString());
        Assert.False(string.IsNullOrEmpty(signature));
    }

    [Fact]
    public async Task CountTokens_equals_the_backend_count_of_the_same_prompt()
    {
        await using var host = await TestHost.StartAsync();
        var result = await Client(host).Messages.CountTokens(new MessageCountTokensParams
        {
            Model = FakeBackend.ModelId,
            Messages = [new UserMessageParam("one two three four")],
        }, TestContext.Current.CancellationToken);
        result.Validate();
        var expected = host.Backend.CountTokens(host.Backend.Models[0], new ChatPrompt([new ChatTurn("user", "one two three four")]));
        Assert.Equal(expected, result.InputTokens);
    }

    [Fact]
    public async Task Models_list_and_retrieve_describe_the_served_model()
    {
        await using var host = await TestHost.StartAsync();
        var client = Client(host);
        var page = await client.Models.List(new global::Anthropic.Models.Models.ModelListParams(), TestContext.Current.CancellationToken);
        var info = Assert.Single(page.Items);
        info.Validate();
        Assert.Equal(FakeBackend.ModelId, info.ID);
        var one = await client.Models.Retrieve(FakeBackend.ModelId, new global::Anthropic.Models.Models.ModelRetrieveParams(), TestContext.Current.CancellationToken);
        one.Validate();
        Assert.Equal(host.Backend.ContextLength, one.MaxInputTokens);
    }

    [Fact]
    public async Task Errors_map_to_the_SDK_exception_for_their_status()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-test"] });
        var ct = TestContext.Current.CancellationToken;
        await Assert.ThrowsAsync<AnthropicNotFoundException>(() => Client(host).Messages.Create(Params("x") with { Model = "no-such-model" }, ct));
        await Assert.ThrowsAsync<AnthropicUnauthorizedException>(() => Client(host, "wrong").Messages.Create(Params("x"), ct));
        await Assert.ThrowsAsync<AnthropicBadRequestException>(() => Client(host).Messages.Create(Params("x", maxTokens: 100_000), ct));
    }

    [Fact]
    public async Task A_failure_after_the_stream_started_surfaces_as_an_SSE_exception()
    {
        await using var host = await TestHost.StartAsync();
        host.Backend.FailAfterTokens = 2;
        await Assert.ThrowsAsync<AnthropicSseException>(async () =>
        {
            await foreach (var _ in Client(host).Messages.CreateStreaming(Params("x"), TestContext.Current.CancellationToken))
            {
            }
        });
    }
}
