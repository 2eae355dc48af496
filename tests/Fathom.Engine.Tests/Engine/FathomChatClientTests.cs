using Fathom.Engine;
using Fathom.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Engine.Tests.Engine;

/// <summary>Drives the client as a Microsoft.Extensions.AI consumer would, on a real (tiny, random) model.</summary>
public sealed class FathomChatClientTests : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly IChatClient _client;

    public FathomChatClientTests()
    {
        _services = new ServiceCollection()
            .AddFathomChatClient(Fixtures.Model("tiny-llama-q8_0.gguf"), new EngineOptions { ContextLength = 512, PageSize = 8 })
            .BuildServiceProvider();
        _client = _services.GetRequiredService<IChatClient>();
    }

    public void Dispose() => _services.Dispose();

    private static ChatOptions Greedy(int max) => new() { Temperature = 0, MaxOutputTokens = max };

    [Fact]
    public async Task GetResponse_reports_text_finish_reason_and_usage()
    {
        var ct = TestContext.Current.CancellationToken;
        var response = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hello there")], Greedy(6), ct);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(6, response.Usage!.OutputTokenCount);
        Assert.True(response.Usage.InputTokenCount > 3);
        Assert.Equal(response.Usage.InputTokenCount + 6, response.Usage.TotalTokenCount);
        Assert.NotNull(response.Usage.CachedInputTokenCount);
        Assert.Equal("tiny-llama-q8_0", response.ModelId);
    }

    [Fact]
    public async Task Streaming_and_non_streaming_agree()
    {
        var ct = TestContext.Current.CancellationToken;
        ChatMessage[] chat = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Count to three, please, slowly.")];
        var whole = await _client.GetResponseAsync(chat, Greedy(8), ct);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in _client.GetStreamingResponseAsync(chat, Greedy(8), ct))
            updates.Add(u);
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.All(updates.SkipLast(1), u => Assert.Null(u.FinishReason));
        var streamed = updates.ToChatResponse();
        Assert.Equal(whole.Text, streamed.Text);
        // The per-sequence runner reuses KV only when a prompt extends a finished sequence's tokens, so a repeat reports what it could reuse.
        Assert.InRange(streamed.Usage!.CachedInputTokenCount!.Value, 0, streamed.Usage.InputTokenCount!.Value - 1);
    }

    [Fact]
    public async Task Multi_turn_conversations_grow_the_prompt()
    {
        var ct = TestContext.Current.CancellationToken;
        var history = new List<ChatMessage> { new(ChatRole.User, "Tell me a story.") };
        var first = await _client.GetResponseAsync(history, Greedy(5), ct);
        history.AddMessages(first);
        history.Add(new ChatMessage(ChatRole.User, "And then?"));
        var second = await _client.GetResponseAsync(history, Greedy(5), ct);
        Assert.Equal(3, history.Count);
        Assert.True(second.Usage!.InputTokenCount > first.Usage!.InputTokenCount);
        Assert.InRange(second.Usage.CachedInputTokenCount!.Value, 0, second.Usage.InputTokenCount!.Value - 1);
    }

    [Fact]
    public async Task Concurrent_calls_are_independent()
    {
        var ct = TestContext.Current.CancellationToken;
        string[] prompts = ["alpha", "beta gamma", "delta epsilon zeta", "eta"];
        var alone = new List<string>();
        foreach (string p in prompts)
            alone.Add((await _client.GetResponseAsync(p, Greedy(6), ct)).Text);
        var together = await Task.WhenAll(prompts.Select(p => _client.GetResponseAsync(p, Greedy(6), ct)));
        Assert.Equal(alone, together.Select(r => r.Text));
    }

    [Fact]
    public async Task Seeded_sampling_repeats_and_stop_sequences_end_the_text()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new ChatOptions { Temperature = 0.9f, TopK = 40, TopP = 0.95f, Seed = 42, MaxOutputTokens = 12 };
        var a = await _client.GetResponseAsync("Say something", options, ct);
        var b = await _client.GetResponseAsync("Say something", options, ct);
        Assert.Equal(a.Text, b.Text);
        var greedy = await _client.GetResponseAsync("Say something", Greedy(12), ct);
        if (greedy.Text.Length > 3)
        {
            string stop = greedy.Text.Substring(2, 2);
            var stopped = await _client.GetResponseAsync("Say something", new ChatOptions { Temperature = 0, MaxOutputTokens = 12, StopSequences = [stop] }, ct);
            Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
            Assert.Equal(greedy.Text[..greedy.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        }
    }

    [Fact]
    public void Metadata_options_and_unsupported_inputs()
    {
        var meta = _client.GetService<ChatClientMetadata>();
        Assert.Equal("fathom", meta!.ProviderName);
        Assert.Equal("tiny-llama-q8_0", meta.DefaultModelId);
        Assert.NotNull(_client.GetService<InferenceEngine>());
        Assert.Same(_client, _client.GetService<FathomChatClient>());
        Assert.Null(_client.GetService<ChatClientMetadata>("key"));

        var request = FathomChatClient.ToRequest([new ChatMessage(ChatRole.User, "hi")], new ChatOptions
        {
            Instructions = "Be terse.",
            ResponseFormat = ChatResponseFormat.Json,
            FrequencyPenalty = 0.5f,
            PresencePenalty = 0.25f,
            Seed = 7,
            Reasoning = new ReasoningOptions { Effort = ReasoningEffort.None },
            AdditionalProperties = new() { [FathomChatClient.TenantProperty] = "acme" },
        });
        Assert.Equal("system", request.Messages![0].Role);
        Assert.Contains("Be terse.", request.Messages[0].Content, StringComparison.Ordinal);
        Assert.Contains("JSON", request.Messages[0].Content, StringComparison.Ordinal);
        Assert.Equal(0.5f, request.Sampling.FrequencyPenalty);
        Assert.Equal(0.25f, request.Sampling.PresencePenalty);
        Assert.Equal(7UL, request.Sampling.Seed);
        Assert.Equal(0, request.ThinkingBudget);
        Assert.Equal("acme", request.Tenant);

        Assert.Throws<NotSupportedException>(() => FathomChatClient.ToRequest([new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1 }, "image/png")])], null));
        Assert.Throws<ArgumentException>(() => FathomChatClient.ToRequest([], null));
    }
}
