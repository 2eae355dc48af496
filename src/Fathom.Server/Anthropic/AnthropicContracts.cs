using System.Text.Json.Serialization;

namespace Fathom.Server.Anthropic;

internal sealed record AnthropicMessage(string Id, string Model, List<AnthropicBlock> Content, AnthropicUsage Usage)
{
    public string Type => "message";
    public string Role => "assistant";

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? StopReason { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? StopSequence { get; init; }
}

/// <summary>One content block; only the fields of its <see cref="Type"/> are set.</summary>
internal sealed record AnthropicBlock(string Type)
{
    public string? Text { get; init; }
    public string? Thinking { get; init; }
    public string? Signature { get; init; }

    /// <summary>tool_use: <c>toolu_…</c>.</summary>
    public string? Id { get; init; }

    public string? Name { get; init; }

    /// <summary>tool_use: the arguments object.</summary>
    public System.Text.Json.JsonElement? Input { get; init; }

    /// <summary>tool_use: required by the 13.x SDKs; always direct here.</summary>
    public ToolCaller? Caller { get; init; }
}

internal sealed record ToolCaller(string Type)
{
    public static readonly ToolCaller Direct = new("direct");
}

internal sealed record CacheCreation(
    [property: JsonPropertyName("ephemeral_5m_input_tokens")] int Ephemeral5mInputTokens,
    [property: JsonPropertyName("ephemeral_1h_input_tokens")] int Ephemeral1hInputTokens);

internal sealed record AnthropicUsage(int InputTokens, int OutputTokens, int CacheCreationInputTokens, int CacheReadInputTokens)
{
    public CacheCreation? CacheCreation { get; init; }
    public string? ServiceTier { get; init; }
}

internal sealed record DeltaUsage(int OutputTokens, int InputTokens, int CacheCreationInputTokens, int CacheReadInputTokens);

internal sealed record MessageStartEvent(AnthropicMessage Message)
{
    public string Type => "message_start";
}

internal sealed record ContentBlockStartEvent(int Index, AnthropicBlock ContentBlock)
{
    public string Type => "content_block_start";
}

internal sealed record BlockDelta(string Type)
{
    public string? Text { get; init; }
    public string? Thinking { get; init; }
    public string? Signature { get; init; }

    /// <summary>input_json_delta: a fragment of the tool_use input JSON.</summary>
    public string? PartialJson { get; init; }
}

internal sealed record ContentBlockDeltaEvent(int Index, BlockDelta Delta)
{
    public string Type => "content_block_delta";
}

internal sealed record ContentBlockStopEvent(int Index)
{
    public string Type => "content_block_stop";
}

internal sealed record StopDelta([property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? StopReason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? StopSequence);

internal sealed record MessageDeltaEvent(StopDelta Delta, DeltaUsage Usage)
{
    public string Type => "message_delta";
}

internal sealed record MessageStopEvent
{
    public string Type => "message_stop";
}

internal sealed record PingEvent
{
    public string Type => "ping";
}

internal sealed record ErrorDetail(string Type, string Message);

internal sealed record AnthropicError(ErrorDetail Error, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? RequestId)
{
    public string Type => "error";
}

internal sealed record CountTokensResponse(int InputTokens);

internal sealed record AnthropicModelInfo(string Id, string DisplayName, string CreatedAt, int MaxInputTokens, int MaxTokens)
{
    public string Type => "model";
    public string Lifecycle => "active";
}

internal sealed record AnthropicModelPage(List<AnthropicModelInfo> Data, bool HasMore,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FirstId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? LastId);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AnthropicMessage))]
[JsonSerializable(typeof(MessageStartEvent))]
[JsonSerializable(typeof(ContentBlockStartEvent))]
[JsonSerializable(typeof(ContentBlockDeltaEvent))]
[JsonSerializable(typeof(ContentBlockStopEvent))]
[JsonSerializable(typeof(MessageDeltaEvent))]
[JsonSerializable(typeof(MessageStopEvent))]
[JsonSerializable(typeof(PingEvent))]
[JsonSerializable(typeof(AnthropicError))]
[JsonSerializable(typeof(CountTokensResponse))]
[JsonSerializable(typeof(AnthropicModelInfo))]
[JsonSerializable(typeof(AnthropicModelPage))]
internal sealed partial class AnthropicJson : JsonSerializerContext;
