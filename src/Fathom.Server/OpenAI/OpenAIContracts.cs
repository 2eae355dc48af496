using System.Text.Json.Serialization;

namespace Fathom.Server.OpenAI;

internal sealed record OpenAIMessage(string? Content)
{
    public string Role => "assistant";
    public string? Refusal => null;

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<OpenAIToolCall>? ToolCalls { get; init; }
}

internal sealed record OpenAIFunctionCall(string Name, string Arguments);

internal sealed record OpenAIToolCall(string Id, OpenAIFunctionCall Function)
{
    public string Type => "function";
}

/// <summary>A streamed tool-call piece: the first carries id, type and name; later ones only argument fragments.</summary>
internal sealed record ChunkToolCall(int Index, ChunkFunction Function)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Id { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Type { get; init; }
}

internal sealed record ChunkFunction(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name,
    string Arguments);

internal sealed record OpenAIChoice(int Index, OpenAIMessage Message, string FinishReason)
{
    public object? Logprobs => null;
}

internal sealed record PromptTokensDetails(int CachedTokens, int AudioTokens);

internal sealed record CompletionTokensDetails(int ReasoningTokens, int AudioTokens, int AcceptedPredictionTokens, int RejectedPredictionTokens);

internal sealed record OpenAIUsage(int PromptTokens, int CompletionTokens, int TotalTokens, PromptTokensDetails PromptTokensDetails, CompletionTokensDetails CompletionTokensDetails);

internal sealed record ChatCompletion(string Id, long Created, string Model, string SystemFingerprint, List<OpenAIChoice> Choices, OpenAIUsage Usage)
{
    public string Object => "chat.completion";
}

internal sealed record ChunkDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<ChunkToolCall>? ToolCalls { get; init; }
}

internal sealed record ChunkChoice(int Index, ChunkDelta Delta, string? FinishReason)
{
    public object? Logprobs => null;
}

internal sealed record ChatCompletionChunk(string Id, long Created, string Model, string SystemFingerprint, List<ChunkChoice> Choices, OpenAIUsage? Usage)
{
    public string Object => "chat.completion.chunk";
}

internal sealed record OpenAIErrorDetail(string Message, string Type, string? Param, string? Code);

internal sealed record OpenAIError(OpenAIErrorDetail Error);

internal sealed record OpenAIModel(string Id, long Created)
{
    public string Object => "model";
    public string OwnedBy => "fathom";
}

internal sealed record OpenAIModelList(List<OpenAIModel> Data)
{
    public string Object => "list";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(OpenAIError))]
[JsonSerializable(typeof(OpenAIModel))]
[JsonSerializable(typeof(OpenAIModelList))]
internal sealed partial class OpenAIJson : JsonSerializerContext;
