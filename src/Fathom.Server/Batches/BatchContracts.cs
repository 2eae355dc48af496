using System.Text.Json.Serialization;
using Fathom.Server.Anthropic;

namespace Fathom.Server.Batches;

internal sealed record BatchRequestCounts(int Processing, int Succeeded, int Errored, int Canceled, int Expired);

/// <summary>The MessageBatch object; every field is always present (null when unset).</summary>
internal sealed record MessageBatch(
    string Id,
    string ProcessingStatus,
    BatchRequestCounts RequestCounts,
    string CreatedAt,
    string ExpiresAt,
    string? EndedAt,
    string? CancelInitiatedAt,
    string? ArchivedAt,
    string? ResultsUrl)
{
    public string Type => "message_batch";
}

internal sealed record MessageBatchPage(List<MessageBatch> Data, bool HasMore, string? FirstId, string? LastId);

internal sealed record MessageBatchDeleted(string Id)
{
    public string Type => "message_batch_deleted";
}

internal sealed record BatchSucceeded(AnthropicMessage Message)
{
    public string Type => "succeeded";
}

internal sealed record BatchErrored(AnthropicError Error)
{
    public string Type => "errored";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(MessageBatch))]
[JsonSerializable(typeof(MessageBatchPage))]
[JsonSerializable(typeof(MessageBatchDeleted))]
internal sealed partial class BatchJson : JsonSerializerContext;

/// <summary>Results embed Message objects, which leave unset fields out like every other Anthropic response.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BatchSucceeded))]
[JsonSerializable(typeof(BatchErrored))]
internal sealed partial class BatchResultJson : JsonSerializerContext;
