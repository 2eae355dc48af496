namespace Fathom.Tools;

/// <summary>Qwen2.5, Qwen3, QwQ, Hermes and most fine-tunes: <c>&lt;tool_call&gt;{"name": …, "arguments": {…}}&lt;/tool_call&gt;</c>, one per call.</summary>
internal sealed class HermesSyntax : ToolSyntax
{
    public static readonly HermesSyntax Instance = new();

    public override IReadOnlyList<string> Openers { get; } = ["<tool_call>"];

    public override Match Header(ref SyntaxCursor c, int form, out CallHeader header)
    {
        header = default;
        var m = c.Lit("<tool_call>");
        if (m != Match.Ok)
            return m;
        m = c.ObjectHeader(["name"], ["arguments", "parameters"], out string? name, out bool noArgs);
        if (m == Match.Ok)
            header = new CallHeader(name!, noArgs, 0);
        return m;
    }

    public override Match Trailer(ref SyntaxCursor c, int form, out bool more)
    {
        more = false;
        var m = c.ObjectRest();
        if (m != Match.Ok)
            return m;
        c.Ws();
        // A model that stops right after the object still made its call.
        if (c.AtEnd && c.Final)
            return Match.Ok;
        return c.Lit("</tool_call>");
    }

    public override string ForcedPrefix(string? name) =>
        name is null ? "<tool_call>\n{\"name\": \"" : $"<tool_call>\n{{\"name\": {Quote(name)}, \"arguments\": ";
}
