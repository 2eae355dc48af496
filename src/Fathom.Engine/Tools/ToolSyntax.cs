using System.Text.Json;

namespace Fathom.Tools;

/// <summary>A parsed call header: the tool's name, whether the call has no arguments, and which form the region uses.</summary>
internal readonly record struct CallHeader(string Name, bool NoArgs, int Form);

/// <summary>
/// One model family's tool-call syntax. A region starts at one of <see cref="Openers"/>; <see cref="Header"/> reads up to
/// the arguments value (the cursor is left on it), the arguments are one JSON value, and <see cref="Trailer"/> reads what
/// follows them: the end of the region, or (<c>more</c>) the separator before another call in the same region.
/// </summary>
internal abstract class ToolSyntax
{
    public abstract IReadOnlyList<string> Openers { get; }

    /// <param name="form">-1 at the opener; otherwise the form the region's first header chose (a continuation).</param>
    public abstract Match Header(ref SyntaxCursor c, int form, out CallHeader header);

    public abstract Match Trailer(ref SyntaxCursor c, int form, out bool more);

    /// <summary>Text that starts a call, so a generation that must call a tool begins inside one (a named tool: up to its arguments).</summary>
    public abstract string ForcedPrefix(string? name);

    /// <summary>The arguments are XML parameters (read by the parser) rather than one JSON value.</summary>
    public virtual bool XmlArguments => false;

    protected static string Quote(string s) => JsonSerializer.Serialize(s, ToolJson.Default.String);

    public static ToolSyntax For(ToolCallFormat format) => format switch
    {
        ToolCallFormat.Hermes => HermesSyntax.Instance,
        ToolCallFormat.Llama3 => Llama3Syntax.Instance,
        ToolCallFormat.Mistral => MistralSyntax.Json,
        ToolCallFormat.MistralV11 => MistralSyntax.NameArgs,
        ToolCallFormat.DeepSeekR1 => DeepSeekSyntax.Instance,
        ToolCallFormat.CommandR => CommandRSyntax.Action,
        ToolCallFormat.CommandR7B => CommandRSyntax.StartActionForm,
        ToolCallFormat.Qwen3Coder => Qwen3CoderSyntax.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "no tool-call syntax for this format"),
    };
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class ToolJson : System.Text.Json.Serialization.JsonSerializerContext;
