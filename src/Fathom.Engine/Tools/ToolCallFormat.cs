namespace Fathom.Tools;

/// <summary>How a model family writes tool calls in its output.</summary>
public enum ToolCallFormat
{
    /// <summary>No tool calls are parsed: everything is text.</summary>
    None,

    /// <summary>Qwen2.5/Qwen3/QwQ/Hermes: <c>&lt;tool_call&gt;{"name", "arguments"}&lt;/tool_call&gt;</c>.</summary>
    Hermes,

    /// <summary>Llama 3.1/3.2/3.3: a bare <c>{"name", "parameters"}</c> object, optionally after <c>&lt;|python_tag|&gt;</c>.</summary>
    Llama3,

    /// <summary>Mistral: <c>[TOOL_CALLS][{"name", "arguments"}, …]</c>.</summary>
    Mistral,

    /// <summary>Mistral v11+ tokenizer: <c>[TOOL_CALLS]name[ARGS]{…}</c>.</summary>
    MistralV11,

    /// <summary>DeepSeek-R1/V3: <c>&lt;｜tool▁call▁begin｜&gt;function&lt;｜tool▁sep｜&gt;name</c> and a ```json fence.</summary>
    DeepSeekR1,

    /// <summary>Command-R/R+: <c>Action: ```json [{"tool_name", "parameters"}]```</c>.</summary>
    CommandR,

    /// <summary>Command-R7B/Command-A: <c>&lt;|START_ACTION|&gt;[…]&lt;|END_ACTION|&gt;</c>.</summary>
    CommandR7B,

    /// <summary>Qwen3-Coder: <c>&lt;tool_call&gt;&lt;function=NAME&gt;&lt;parameter=P&gt;VALUE&lt;/parameter&gt;…&lt;/function&gt;&lt;/tool_call&gt;</c>, values typed by the tool's schema.</summary>
    Qwen3Coder,
}

/// <summary>Chooses a model's <see cref="ToolCallFormat"/> from its chat template and architecture.</summary>
public static class ToolCallFormats
{
    /// <summary>
    /// The format the template renders assistant tool calls in; else, for a template that reads <c>tools</c>, the
    /// architecture's usual format; otherwise Hermes (the format <see cref="ToolTemplateData.Fallback"/> asks for).
    /// A server should use Hermes whenever the template cannot show tools, since it prompts with the fallback.
    /// </summary>
    public static ToolCallFormat Detect(string? chatTemplate, string? architecture = null)
    {
        string t = chatTemplate ?? "";
        if (t.Contains("<function=", StringComparison.Ordinal) && t.Contains("<parameter=", StringComparison.Ordinal))
            return ToolCallFormat.Qwen3Coder;
        if (t.Contains("<tool_call>", StringComparison.Ordinal))
            return ToolCallFormat.Hermes;
        if (t.Contains("[TOOL_CALLS]", StringComparison.Ordinal))
            return t.Contains("[ARGS]", StringComparison.Ordinal) ? ToolCallFormat.MistralV11 : ToolCallFormat.Mistral;
        if (t.Contains("tool▁call▁begin", StringComparison.Ordinal))
            return ToolCallFormat.DeepSeekR1;
        if (t.Contains("<|START_ACTION|>", StringComparison.Ordinal))
            return ToolCallFormat.CommandR7B;
        if (t.Contains("tool_name", StringComparison.Ordinal) && t.Contains("Action:", StringComparison.Ordinal))
            return ToolCallFormat.CommandR;
        if (t.Contains("<|python_tag|>", StringComparison.Ordinal) || t.Contains("ipython", StringComparison.Ordinal)
            || t.Contains("\"parameters\": dictionary of argument name", StringComparison.Ordinal))
            return ToolCallFormat.Llama3;
        if (!ToolTemplateData.SupportsTools(t))
            return ToolCallFormat.Hermes;
        return architecture switch
        {
            "llama" when t.Contains("<|start_header_id|>", StringComparison.Ordinal) => ToolCallFormat.Llama3,
            "command-r" or "cohere2" => ToolCallFormat.CommandR7B,
            _ => ToolCallFormat.Hermes,
        };
    }

    /// <summary>Reads a format name (case-insensitive: hermes, qwen, qwen3-coder, llama3, mistral, mistral-v11, deepseek-r1, command-r, command-r7b, none).</summary>
    public static ToolCallFormat Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant() switch
        {
            "none" => ToolCallFormat.None,
            "hermes" or "qwen" or "qwen2.5" or "qwen3" => ToolCallFormat.Hermes,
            "llama3" or "llama" or "llama3.1" or "llama3.2" => ToolCallFormat.Llama3,
            "mistral" => ToolCallFormat.Mistral,
            "mistral-v11" or "mistralv11" => ToolCallFormat.MistralV11,
            "deepseek" or "deepseek-r1" or "deepseekr1" => ToolCallFormat.DeepSeekR1,
            "command-r" or "commandr" => ToolCallFormat.CommandR,
            "command-r7b" or "commandr7b" or "command-a" => ToolCallFormat.CommandR7B,
            "qwen3-coder" or "qwen3coder" => ToolCallFormat.Qwen3Coder,
            _ => throw new ArgumentException($"unknown tool-call format '{name}' (use hermes, qwen3-coder, llama3, mistral, mistral-v11, deepseek-r1, command-r, command-r7b or none)", nameof(name)),
        };
    }

    /// <summary>
    /// Text that opens a tool call in <paramref name="format"/>: generation continuing from it must call a tool
    /// (<paramref name="toolName"/>: that tool, up to its arguments). Feed it to the parser before the generated text.
    /// </summary>
    public static string ForcedPrefix(ToolCallFormat format, string? toolName = null) =>
        format == ToolCallFormat.None ? "" : ToolSyntax.For(format).ForcedPrefix(toolName);
}
