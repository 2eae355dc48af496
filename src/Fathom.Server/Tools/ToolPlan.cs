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
/// How one generation handles tool calls: the parser's format and the declared names, whether several calls may be
/// made, and the text that forces a call when the request requires one. Without a grammar the force is a prefix
/// (the opening of a call, up to the arguments for a named tool), and a named tool's arguments follow its schema's grammar.
/// tool_choice any forces the opening only: the model picks the tool, unconstrained.
/// </summary>
internal sealed record ToolPlan(ToolCallFormat Format, IReadOnlyList<string> Names, bool Parallel, string? Prefix, bool HoldCalls)
{
    /// <summary>Constrains the text after <see cref="Prefix"/>: a named tool's arguments schema.</summary>
    public Fathom.Sampling.Grammar? Grammar { get; init; }

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
        return new ToolPlan(model.ToolCallFormat, [.. prompt.Tools.Select(t => t.Name)], choice.Parallel, prefix, holdCalls)
        {
            Grammar = prefix is not null && choice.Mode == ToolChoiceMode.Tool ? choice.Arguments : null,
        };
    }
}
