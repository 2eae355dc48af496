using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Fathom.Engine;
using Fathom.Sampling;
using Microsoft.Extensions.AI;

namespace Fathom.Extensions.AI;

/// <summary>
/// <see cref="IChatClient"/> over an <see cref="InferenceEngine"/>: renders the model's own chat template,
/// maps <see cref="ChatOptions"/> onto the engine's request, and streams text, reasoning, the finish reason
/// and usage (cached input tokens included). Stateless, so safe for concurrent calls.
/// </summary>
public sealed class FathomChatClient : IChatClient
{
    /// <summary>Key of <see cref="ChatOptions.AdditionalProperties"/> naming the cache tenant (string).</summary>
    public const string TenantProperty = "fathom.tenant";

    /// <summary>Key of the response's AdditionalProperties: false when a JSON response format was asked for but not enforced by constrained decoding.</summary>
    public const string ResponseFormatEnforcedProperty = "fathom.response_format_enforced";

    private readonly InferenceEngine _engine;
    private readonly bool _ownsEngine;
    private readonly ChatClientMetadata _metadata;

    public FathomChatClient(InferenceEngine engine, string? modelId = null, bool ownsEngine = false)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _ownsEngine = ownsEngine;
        _metadata = new ChatClientMetadata("fathom", null, modelId ?? "fathom");
    }

    public InferenceEngine Engine => _engine;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var response = await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false);
        if (options?.ResponseFormat is ChatResponseFormatJson)
            (response.AdditionalProperties ??= [])[ResponseFormatEnforcedProperty] = false;
        return response;
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var request = ToRequest(messages, options);
        bool showReasoning = options?.Reasoning?.Output is not ReasoningOutput.None;
        string responseId = Guid.NewGuid().ToString("N");
        string modelId = options?.ModelId ?? _metadata.DefaultModelId!;
        var created = DateTimeOffset.UtcNow;
        await foreach (var u in _engine.Submit(request, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var contents = new List<AIContent>();
            if (u.Thinking.Length > 0 && showReasoning)
                contents.Add(new TextReasoningContent(u.Thinking));
            if (u.Text.Length > 0)
                contents.Add(new TextContent(u.Text));
            if (u.Usage is { } usage)
            {
                contents.Add(new UsageContent(new UsageDetails
                {
                    InputTokenCount = usage.InputTokens,
                    OutputTokenCount = usage.OutputTokens,
                    TotalTokenCount = usage.InputTokens + usage.OutputTokens,
                    CachedInputTokenCount = usage.CachedInputTokens,
                }));
            }
            if (contents.Count == 0 && !u.IsFinal)
                continue;
            yield return new ChatResponseUpdate(ChatRole.Assistant, contents)
            {
                ResponseId = responseId,
                MessageId = responseId,
                ModelId = modelId,
                CreatedAt = created,
                FinishReason = u.StopReason switch
                {
                    null => null,
                    StopReason.MaxTokens or StopReason.ContextLength => ChatFinishReason.Length,
                    _ => ChatFinishReason.Stop,
                },
                RawRepresentation = u,
            };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(ChatClientMetadata))
            return _metadata;
        if (serviceType == typeof(InferenceEngine))
            return _engine;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (_ownsEngine)
            _engine.Dispose();
    }

    internal static GenerationRequest ToRequest(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        if (options?.Tools is { Count: > 0 })
            throw new NotSupportedException("Fathom's chat client does not call tools yet");
        var list = new List<EngineMessage>();
        var system = new StringBuilder();
        if (!string.IsNullOrEmpty(options?.Instructions))
            system.Append(options.Instructions);
        if (options?.ResponseFormat is ChatResponseFormatJson json)
        {
            // Constrained decoding is not there yet: ask for JSON in words and report it as unenforced.
            if (system.Length > 0)
                system.Append("\n\n");
            system.Append("Respond with a single JSON value and nothing else.");
            if (json.Schema is { } schema)
                system.Append(" It must match this JSON schema: ").Append(JsonSerializer.Serialize(schema, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonElement))));
        }
        if (system.Length > 0)
            list.Add(new EngineMessage("system", system.ToString()));
        foreach (var m in messages)
        {
            if (m.Contents.Any(c => c is not TextContent and not TextReasoningContent and not UsageContent))
                throw new NotSupportedException($"a {m.Role} message holds content other than text ({m.Contents.First(c => c is not TextContent).GetType().Name})");
            list.Add(new EngineMessage(m.Role.Value, m.Text));
        }
        if (list.Count == 0)
            throw new ArgumentException("no messages to respond to", nameof(messages));

        var sampling = new SamplingOptions
        {
            Temperature = options?.Temperature ?? 1f,
            TopP = options?.TopP ?? 1f,
            TopK = options?.TopK ?? 0,
            FrequencyPenalty = options?.FrequencyPenalty ?? 0f,
            PresencePenalty = options?.PresencePenalty ?? 0f,
            Seed = options?.Seed is long seed ? unchecked((ulong)seed) : null,
        };
        return new GenerationRequest
        {
            Messages = list,
            Sampling = sampling,
            MaxTokens = options?.MaxOutputTokens ?? 1024,
            Stop = options?.StopSequences is { } stops ? [.. stops] : [],
            ThinkingBudget = options?.Reasoning?.Effort switch
            {
                ReasoningEffort.None => 0,
                ReasoningEffort.Low => 1024,
                ReasoningEffort.Medium => 4096,
                ReasoningEffort.High => 16384,
                _ => null,
            },
            Tenant = options?.AdditionalProperties?.TryGetValue(TenantProperty, out var t) == true ? t?.ToString() : null,
        };
    }
}
