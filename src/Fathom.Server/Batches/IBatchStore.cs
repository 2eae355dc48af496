namespace Fathom.Server.Batches;

/// <summary>Where a batch request stands; every state but <see cref="Pending"/> is final.</summary>
internal enum BatchRequestState
{
    Pending,
    Succeeded,
    Errored,
    Canceled,
    Expired,
}

internal sealed record BatchCounts(int Processing, int Succeeded, int Errored, int Canceled, int Expired);

/// <summary>A stored batch; times are UTC.</summary>
internal sealed record BatchRecord(
    string Id,
    string? Tenant,
    string Version,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? EndedAt,
    DateTimeOffset? CancelInitiatedAt,
    DateTimeOffset? ArchivedAt,
    BatchCounts Counts);

/// <summary>One request of a batch as submitted: its id and its <c>/v1/messages</c> body.</summary>
internal sealed record BatchRequestInput(string CustomId, string ParamsJson);

/// <summary>A request waiting to run, with what it needs to run on its own.</summary>
internal sealed record PendingBatchRequest(string BatchId, string CustomId, string? Tenant, string Version, string ParamsJson);

/// <summary>
/// Durable batch storage. Every state change is one transaction, so a kill at any moment leaves each
/// request either pending (it runs again) or final with exactly one result.
/// </summary>
internal interface IBatchStore : IDisposable
{
    BatchRecord Create(string id, string? tenant, string version, DateTimeOffset createdAt, DateTimeOffset expiresAt, IReadOnlyList<BatchRequestInput> requests);

    BatchRecord? Get(string id);

    /// <summary>A tenant's batches newest first: after <paramref name="afterId"/> (older) or before <paramref name="beforeId"/> (newer).</summary>
    IReadOnlyList<BatchRecord> List(string? tenant, int limit, string? afterId, string? beforeId, out bool hasMore);

    /// <summary>Marks every pending request canceled and ends the batch; an ended batch is returned unchanged.</summary>
    BatchRecord? Cancel(string id, DateTimeOffset now);

    /// <summary>Removes an ended batch and its results; false when it does not exist.</summary>
    bool Delete(string id);

    /// <summary>The oldest pending request of a batch that has not ended, skipping <paramref name="running"/>.</summary>
    PendingBatchRequest? NextPending(IReadOnlySet<(string BatchId, string CustomId)> running);

    /// <summary>
    /// Records a request's final result if it is still pending (false otherwise: it was canceled or
    /// expired meanwhile, or already done), and ends the batch when it was the last one.
    /// </summary>
    bool Complete(string batchId, string customId, BatchRequestState state, string resultJson, DateTimeOffset now);

    /// <summary>Expires pending requests of overdue batches and archives results past retention; returns batches changed.</summary>
    int Sweep(DateTimeOffset now, TimeSpan retention);

    /// <summary>Each final request's custom_id and result JSON, in submission order.</summary>
    IEnumerable<(string CustomId, string ResultJson)> Results(string id);
}
