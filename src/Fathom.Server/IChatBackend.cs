using Fathom.Tools;

namespace Fathom.Server;

/// <summary>One model the server offers, as both APIs describe it.</summary>
public sealed record ServedModel(string Id, string DisplayName, DateTimeOffset Created, int ContextLength, int MaxOutputTokens)
{
    /// <summary>How the model writes tool calls; the server parses its output with this.</summary>
    public ToolCallFormat ToolCallFormat { get; init; } = ToolCallFormat.Hermes;
}

/// <summary>
/// One turn of a conversation after the API-specific shapes are flattened: text, plus an assistant's tool calls
/// or (role <c>tool</c>) the result of one.
/// </summary>
public sealed record ChatTurn(string Role, string Content)
{
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>For a <c>tool</c> turn: the id of the call it answers.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>For a <c>tool</c> turn: the name of the tool that produced it.</summary>
    public string? ToolName { get; init; }
}

/// <summary>
/// A conversation ready to render with the model's chat template. A final assistant turn is a
/// prefill: generation continues its text.
/// </summary>
public sealed record ChatPrompt(IReadOnlyList<ChatTurn> Turns)
{
    /// <summary>The tools the request declares; rendered into the prompt by the chat template.</summary>
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];

    public bool EndsWithPrefill => Turns.Count > 0 && Turns[^1].Role == "assistant";
}

/// <summary>How to sample; null fields take the backend's defaults.</summary>
public sealed record GenerationSettings
{
    public required int MaxTokens { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public int? Seed { get; init; }
    public float? MinP { get; init; }
    public float? PresencePenalty { get; init; }
    public float? FrequencyPenalty { get; init; }
    public float? RepetitionPenalty { get; init; }

    /// <summary>Texts that end the generation (the match is not emitted).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Prefix caches are shared only between requests of the same tenant (null: the shared tenant).</summary>
    public string? Tenant { get; init; }

    /// <summary>Prompt prefixes to keep cached (Anthropic <c>cache_control</c>).</summary>
    public IReadOnlyList<PromptCacheBreakpoint> CacheBreakpoints { get; init; } = [];

    /// <summary>Let the model think first; its thinking arrives as <see cref="ChatUpdateKind.Thinking"/> updates.</summary>
    public bool Thinking { get; init; }

    /// <summary>
    /// Text the model's turn is forced to start with (special tokens allowed), e.g. the opening of a tool call when
    /// the request requires one. It is not part of the generated text the backend returns.
    /// </summary>
    public string? ForcedPrefix { get; init; }

    /// <summary>A grammar the generated text (after <see cref="ForcedPrefix"/>) must follow: a JSON Schema for
    /// response_format / output_config, or a forced tool call's arguments. Null: unconstrained.</summary>
    public Fathom.Sampling.Grammar? Grammar { get; init; }
}

/// <summary>Keep the prompt up to the end of <paramref name="Prefix"/> (null: the whole prompt) cached for <paramref name="Ttl"/>.</summary>
public sealed record PromptCacheBreakpoint(ChatPrompt? Prefix, TimeSpan Ttl);

public enum ChatUpdateKind
{
    /// <summary>The prompt is processed: input and cached token counts are final.</summary>
    Prompt,
    Text,
    Thinking,

    /// <summary>A tool call starts (the server's parser makes these from text): <see cref="ChatUpdate.Text"/> is the tool's name.</summary>
    ToolCallStart,

    /// <summary>A fragment of the current tool call's arguments JSON.</summary>
    ToolCallArguments,

    /// <summary>The current tool call is complete.</summary>
    ToolCallEnd,

    /// <summary>Generation ended; <see cref="ChatUpdate.Finish"/> says why.</summary>
    Finished,
}

public enum FinishReason
{
    EndOfTurn,
    MaxTokens,
    ContextFull,
    StopSequence,
}

/// <summary>One step of a generation. Token counts are cumulative.</summary>
public readonly record struct ChatUpdate(ChatUpdateKind Kind, string Text, int InputTokens, int CachedInputTokens, int OutputTokens, FinishReason Finish = FinishReason.EndOfTurn)
{
    /// <summary>The stop sequence that ended the generation (with <see cref="FinishReason.StopSequence"/>).</summary>
    public string? StopSequence { get; init; }

    /// <summary>Prompt tokens written to the cache under a 5-minute / 1-hour breakpoint (final update).</summary>
    public int CacheWrite5m { get; init; }

    public int CacheWrite1h { get; init; }

    /// <summary>Time spent computing the prompt and generating, when the backend measures them (final update).</summary>
    public TimeSpan PrefillTime { get; init; }

    public TimeSpan DecodeTime { get; init; }
}

/// <summary>
/// What the HTTP surfaces need from an inference engine: the models it serves, exact prompt token
/// counts, and a stream of generation updates that ends with a <see cref="ChatUpdateKind.Finished"/> update.
/// </summary>
public interface IChatBackend
{
    IReadOnlyList<ServedModel> Models { get; }

    /// <summary>Tokens the rendered prompt holds: exactly what <see cref="GenerateAsync"/> would process.</summary>
    int CountTokens(ServedModel model, ChatPrompt prompt);

    /// <summary>Starts with one <see cref="ChatUpdateKind.Prompt"/> update, ends with one <see cref="ChatUpdateKind.Finished"/>.</summary>
    IAsyncEnumerable<ChatUpdate> GenerateAsync(ServedModel model, ChatPrompt prompt, GenerationSettings settings, CancellationToken cancellationToken);
}
