using Fathom.Tools;

namespace Fathom.Server;

internal enum ToolChoiceMode
{
    /// <summary>The model decides.</summary>
    Auto,

    /// <summary>The model must call some tool (Anthropic <c>any</c>, OpenAI <c>required</c>).</summary>
    Any,

    /// <summary>The model must call <see cref="ToolChoice.Name"/>.</summary>
    Tool,

    /// <summary>Tools are shown but never called: output is text.</summary>
    None,
}

/// <summary>A request's tool_choice, in either API.</summary>
internal sealed record ToolChoice(ToolChoiceMode Mode, string? Name = null, bool Parallel = true)
{
    public static readonly ToolChoice Default = new(ToolChoiceMode.Auto);
}

/// <summary>
/// How one generation handles tool calls: the parser's format and the declared names, whether several calls may be
/// made, and the text that forces a call when the request requires one. Without a grammar the force is a prefix
/// (the opening of a call, up to the arguments for a named tool); a JSON-Schema grammar for the arguments plugs in here.
/// </summary>
internal sealed record ToolPlan(ToolCallFormat Format, IReadOnlyList<string> Names, bool Parallel, string? Prefix, bool HoldCalls)
{
    /// <summary>Null when the output is plain text: no tools, or tool_choice none.</summary>
    public static ToolPlan? For(ServedModel model, ChatPrompt prompt, ToolChoice choice, bool holdCalls)
    {
        if (prompt.Tools.Count == 0 || choice.Mode == ToolChoiceMode.None || model.ToolCallFormat == ToolCallFormat.None)
            return null;
        string? prefix = choice.Mode switch
        {
            _ when prompt.EndsWithPrefill => null,
            ToolChoiceMode.Any => ToolCallFormats.ForcedPrefix(model.ToolCallFormat),
            ToolChoiceMode.Tool => ToolCallFormats.ForcedPrefix(model.ToolCallFormat, choice.Name),
            _ => null,
        };
        return new ToolPlan(model.ToolCallFormat, [.. prompt.Tools.Select(t => t.Name)], choice.Parallel, prefix, holdCalls);
    }
}
