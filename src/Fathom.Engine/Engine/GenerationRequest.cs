using Fathom.Sampling;

namespace Fathom.Engine;

/// <summary>
/// One generation: a prompt (token ids, or messages the engine renders with the model's chat template),
/// how to sample, when to stop, and how its prefix may be cached.
/// </summary>
public sealed record GenerationRequest
{
    /// <summary>The prompt as token ids (special tokens included); wins over <see cref="Messages"/>.</summary>
    public IReadOnlyList<int>? PromptTokens { get; init; }

    /// <summary>The conversation, rendered with the model's chat template and a generation prompt.</summary>
    public IReadOnlyList<EngineMessage>? Messages { get; init; }

    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Most tokens to generate.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Texts that end the generation; the matched text is never emitted.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Most thinking tokens before the engine closes the thinking block and the answer starts (null: unlimited).</summary>
    public int? ThinkingBudget { get; init; }

    /// <summary>Caches are shared only between requests with the same tenant key (null: the shared tenant).</summary>
    public string? Tenant { get; init; }

    /// <summary>Prompt prefixes to keep cached for a while (Anthropic cache_control).</summary>
    public IReadOnlyList<CacheBreakpoint> CacheBreakpoints { get; init; } = [];

    /// <summary>Report the log-probability of each generated token with this many alternatives (0: only the token's own).</summary>
    public bool Logprobs { get; init; }

    public int TopLogprobs { get; init; }

    /// <summary>A grammar the generated text must follow (GBNF, or compiled from a JSON Schema); null: unconstrained.</summary>
    public Grammar? Grammar { get; init; }

    /// <summary>Write the text of control tokens into the output, so tool-call markers (often special tokens) reach a parser.</summary>
    public bool RenderSpecialTokens { get; init; }
}

/// <summary>One chat message; the content is plain text.</summary>
public sealed record EngineMessage(string Role, string Content);

/// <summary>
/// Keeps the prompt's first <see cref="TokenCount"/> tokens (rounded down to whole KV pages; -1: the whole
/// prompt) cached for <see cref="Ttl"/> after the request computes them.
/// </summary>
public readonly record struct CacheBreakpoint(int TokenCount, TimeSpan Ttl)
{
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan LongTtl = TimeSpan.FromHours(1);

    /// <summary>The whole prompt, for <paramref name="ttl"/> (default five minutes).</summary>
    public static CacheBreakpoint WholePrompt(TimeSpan? ttl = null) => new(-1, ttl ?? DefaultTtl);
}
