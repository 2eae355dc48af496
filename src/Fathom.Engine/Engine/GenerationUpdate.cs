namespace Fathom.Engine;

/// <summary>
/// One step of a generation's stream: new text and thinking, the token ids behind them, and on the last
/// update (<see cref="IsFinal"/>) why it stopped and what it cost.
/// </summary>
public sealed record GenerationUpdate
{
    public string Text { get; init; } = "";

    /// <summary>Reasoning text, for models that think between markers.</summary>
    public string Thinking { get; init; } = "";

    /// <summary>Tokens sampled since the previous update.</summary>
    public IReadOnlyList<int> TokenIds { get; init; } = [];

    /// <summary>One per token in <see cref="TokenIds"/> when the request asked for log-probabilities.</summary>
    public IReadOnlyList<TokenLogprob>? Logprobs { get; init; }

    /// <summary>Set on the final update only.</summary>
    public StopReason? StopReason { get; init; }

    /// <summary>The stop sequence that ended the generation, when one did.</summary>
    public string? StopSequence { get; init; }

    /// <summary>Set on the final update only.</summary>
    public GenerationUsage? Usage { get; init; }

    public bool IsFinal => StopReason is not null;
}

public enum StopReason
{
    /// <summary>The model produced an end-of-generation token.</summary>
    EndOfGeneration,
    /// <summary>A stop sequence matched.</summary>
    StopSequence,
    /// <summary>MaxTokens were generated.</summary>
    MaxTokens,
    /// <summary>The context (or the KV pool, for a lone sequence) is full.</summary>
    ContextLength,
}

/// <summary>Tokens and time of one generation. Input = cached + newly computed prompt tokens.</summary>
public sealed record GenerationUsage(int InputTokens, int OutputTokens, int CachedInputTokens, TimeSpan Queued, TimeSpan Prefill, TimeSpan Decode)
{
    /// <summary>Output tokens per second of decode time.</summary>
    public double DecodeTokensPerSecond => Decode > TimeSpan.Zero ? Math.Max(0, OutputTokens - 1) / Decode.TotalSeconds : 0;
}

/// <summary>A sampled token's log-probability and the most likely alternatives at that step.</summary>
public sealed record TokenLogprob(int Token, float Logprob, IReadOnlyList<(int Token, float Logprob)> Top);

/// <summary>The engine's admission queue is full; retry later (HTTP 429/529).</summary>
public sealed class EngineOverloadedException : Exception
{
    public EngineOverloadedException(string message) : base(message)
    {
    }

    public EngineOverloadedException()
    {
    }

    public EngineOverloadedException(string message, Exception inner) : base(message, inner)
    {
    }
}
