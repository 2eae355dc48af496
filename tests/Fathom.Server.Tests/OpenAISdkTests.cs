using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace Fathom.Server.Tests;

/// <summary>The official OpenAI SDK (2.15.0) against the in-process server.</summary>
public sealed class OpenAISdkTests
{
    private static OpenAIClientOptions Options(TestHost host) => new()
    {
        Endpoint = new Uri("http://localhost/v1"),
        Transport = new HttpClientPipelineTransport(host.Client),
        RetryPolicy = new ClientRetryPolicy(0),
    };

    private static ChatClient Chat(TestHost host, string model = FakeBackend.ModelId, string key = "sk-test") =>
        new(model, new ApiKeyCredential(key), Options(host));

    [Fact]
    public async Task CompleteChat_returns_text_finish_reason_and_cached_token_usage()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-test"] });
        host.Backend.CachedTokens = 3;
        ChatCompletion completion = await Chat(host).CompleteChatAsync(
            [new SystemChatMessage("Be terse."), new UserChatMessage("Say hello")], cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(host.Backend.Reply, completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        int prompt = host.Backend.CountTokens(host.Backend.Models[0], host.Backend.LastPrompt!);
        Assert.Equal(prompt, completion.Usage.InputTokenCount);
        Assert.Equal(3, completion.Usage.InputTokenDetails.CachedTokenCount);
        Assert.Equal(host.Backend.Reply.Split(' ').Length, completion.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task CompleteChat_reports_length_when_max_output_tokens_is_reached()
    {
        await using var host = await TestHost.StartAsync();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 2 };
        ChatCompletion completion = await Chat(host).CompleteChatAsync([new UserChatMessage("Say hello")], options, TestContext.Current.CancellationToken);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(2, completion.Usage.OutputTokenCount);
        Assert.Equal(2, host.Backend.LastSettings!.MaxTokens);
    }

    [Fact]
    public async Task CompleteChatStreaming_concatenates_to_the_reply_and_ends_with_usage()
    {
        await using var host = await TestHost.StartAsync();
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in Chat(host).CompleteChatStreamingAsync([new UserChatMessage("Say hello")], cancellationToken: TestContext.Current.CancellationToken))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(host.Backend.Reply, text.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.NotNull(usage);
        Assert.Equal(host.Backend.Reply.Split(' ').Length, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Unknown_model_and_bad_key_raise_ClientResultException_with_the_status()
    {
        await using var host = await TestHost.StartAsync(options: new FathomServerOptions { ApiKeys = ["sk-test"] });
        var ct = TestContext.Current.CancellationToken;
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => Chat(host, "nope").CompleteChatAsync([new UserChatMessage("x")], cancellationToken: ct));
        Assert.Equal(404, notFound.Status);
        Assert.Contains("model_not_found", notFound.Message, StringComparison.Ordinal);
        var unauthorized = await Assert.ThrowsAsync<ClientResultException>(() => Chat(host, key: "bad").CompleteChatAsync([new UserChatMessage("x")], cancellationToken: ct));
        Assert.Equal(401, unauthorized.Status);
    }

    [Fact]
    public async Task Models_list_and_get_use_the_OpenAI_shape()
    {
        await using var host = await TestHost.StartAsync();
        var client = new OpenAIModelClient(new ApiKeyCredential("k"), Options(host));
        OpenAIModelCollection models = await client.GetModelsAsync(TestContext.Current.CancellationToken);
        Assert.Equal(FakeBackend.ModelId, Assert.Single(models).Id);
        OpenAIModel model = await client.GetModelAsync(FakeBackend.ModelId, TestContext.Current.CancellationToken);
        Assert.Equal("fathom", model.OwnedBy);
    }
}
