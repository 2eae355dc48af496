namespace Fathom.Engine;

/// <summary>Capacity and batching of an <see cref="InferenceEngine"/>.</summary>
public sealed record EngineOptions
{
    /// <summary>Most tokens (prompt + output) one sequence may hold; 0: the model's trained context, at most 4096.</summary>
    public int ContextLength { get; init; }

    /// <summary>KV pages in the pool (prompt and output of every sequence, plus cached prefixes); 0: room for <see cref="MaxSequences"/> full contexts.</summary>
    public int KvPages { get; init; }

    /// <summary>Tokens per KV page, the unit of prefix caching.</summary>
    public int PageSize { get; init; } = 16;

    /// <summary>Most tokens computed in one step across all sequences (decode gets 1 each, prefill the rest).</summary>
    public int MaxBatchTokens { get; init; } = 512;

    /// <summary>Most sequences running at once.</summary>
    public int MaxSequences { get; init; } = 16;

    /// <summary>Most requests waiting or running; one more is an <see cref="EngineOverloadedException"/>.</summary>
    public int MaxPendingRequests { get; init; } = 256;

    /// <summary>Threads of the forward pass.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Finished conversations whose partly filled last KV page is kept (full pages live in the prefix cache), so a next turn computes only its new tokens.</summary>
    public int ParkedSessions { get; init; } = 4;

    /// <summary>Where the prefix cache is saved on shutdown and read back on start (null: memory only).</summary>
    public string? PrefixCacheDirectory { get; init; }

    /// <summary>Clock of cache TTLs and timings (tests advance a fake one).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ContextLength);
        ArgumentOutOfRangeException.ThrowIfNegative(KvPages);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PageSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxSequences);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPendingRequests);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Threads);
        ArgumentOutOfRangeException.ThrowIfNegative(ParkedSessions);
        ArgumentNullException.ThrowIfNull(Clock);
    }
}
