namespace Fathom.Templates;

/// <summary>
/// The variables one render passes, as transformers' apply_chat_template does. Values are plain .NET data:
/// null, bool, integers, floating point, string, JsonElement/JsonNode, dictionaries with string keys, and lists.
/// </summary>
public sealed record ChatTemplateOptions
{
    public bool AddGenerationPrompt { get; init; }
    public string BosToken { get; init; } = "";
    public string EosToken { get; init; } = "";

    /// <summary>Tool definitions; null renders as None. <see cref="ChatTemplate.Undefined"/> leaves `tools` undefined.</summary>
    public object? Tools { get; init; }

    /// <summary>RAG documents; null renders as None. <see cref="ChatTemplate.Undefined"/> leaves `documents` undefined.</summary>
    public object? Documents { get; init; }

    /// <summary>Extra template variables (enable_thinking, reasoning_effort, tool_choice, ...).</summary>
    public IReadOnlyDictionary<string, object?>? Variables { get; init; }

    /// <summary>A fixed wall-clock time for `strftime_now`; wins over <see cref="Clock"/>.</summary>
    public DateTime? Now { get; init; }

    /// <summary>The clock `strftime_now` reads (local wall time of this provider). Defaults to the system clock.</summary>
    public TimeProvider? Clock { get; init; }

    public TemplateLimits Limits { get; init; } = TemplateLimits.Default;
}
