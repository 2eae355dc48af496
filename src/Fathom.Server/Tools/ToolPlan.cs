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
    /// <summary>For <see cref="ToolChoiceMode.Tool"/>: the grammar of the tool's arguments, when its schema compiles.</summary>
    public Fathom.Sampling.Grammar? Arguments { get; init; }

    public static readonly ToolChoice Default = new(ToolChoiceMode.Auto);
}

/// <summary>
/// How one generation handles tool calls: the parser's format and the declared tools, whether several calls may be
/// made, and the text that forces a call when the request requires one. tool_choice any / required forces the family's
/// opener and then one grammar over every declared tool (names and each tool's arguments schema), one call or several
/// as parallel allows. A named tool is forced up to its arguments, which follow its schema's grammar (in the XML format,
/// the one-tool form of the any-tool grammar).
/// </summary>
internal sealed record ToolPlan(ToolCallFormat Format, IReadOnlyList<ToolDefinition> Tools, bool Parallel, string? Prefix, bool HoldCalls)
{
    /// <summary>Constrains the text after <see cref="Prefix"/>.</summary>
    public Fathom.Sampling.Grammar? Grammar { get; init; }

    /// <summary>Null when the output is plain text: no tools, or tool_choice none.</summary>
    public static ToolPlan? For(ServedModel model, ChatPrompt prompt, ToolChoice choice, bool holdCalls)
    {
        if (prompt.Tools.Count == 0 || choice.Mode == ToolChoiceMode.None || model.ToolCallFormat == ToolCallFormat.None)
            return null;
        var format = model.ToolCallFormat;
        bool forced = !prompt.EndsWithPrefill && choice.Mode is ToolChoiceMode.Any or ToolChoiceMode.Tool;
        if (forced && (choice.Mode == ToolChoiceMode.Any || format == ToolCallFormat.Qwen3Coder))
        {
            var tools = choice.Mode == ToolChoiceMode.Any ? prompt.Tools : [.. prompt.Tools.Where(t => t.Name == choice.Name)];
            var constraint = ToolCallGrammar.ForAnyTool(format, tools, choice.Mode == ToolChoiceMode.Any && choice.Parallel);
            return new ToolPlan(format, prompt.Tools, choice.Parallel, constraint.Prefix, holdCalls) { Grammar = constraint.Grammar };
        }
        string? prefix = forced ? ToolCallFormats.ForcedPrefix(format, choice.Name) : null;
        return new ToolPlan(format, prompt.Tools, choice.Parallel, prefix, holdCalls)
        {
            Grammar = prefix is not null && choice.Mode == ToolChoiceMode.Tool ? choice.Arguments : null,
        };
    }
}
