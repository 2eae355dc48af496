namespace Fathom.Tools;

/// <summary>
/// Llama 3.1/3.2/3.3: a bare JSON object <c>{"name": …, "parameters": {…}}</c> (3.2 may add <c>"type": "function"</c>),
/// optionally after <c>&lt;|python_tag|&gt;</c>. Built-in tools in Python call syntax are left as text.
/// </summary>
internal sealed class Llama3Syntax : ToolSyntax
{
    public static readonly Llama3Syntax Instance = new();

    public override IReadOnlyList<string> Openers { get; } = ["<|python_tag|>", "{"];

    public override Match Header(ref SyntaxCursor c, int form, out CallHeader header)
    {
        header = default;
        var m = c.Opt("<|python_tag|>", out _);
        if (m != Match.Ok)
            return m;
        m = c.ObjectHeader(["name"], ["parameters", "arguments"], out string? name, out bool noArgs);
        if (m == Match.Ok)
            header = new CallHeader(name!, noArgs, 0);
        return m;
    }

    public override Match Trailer(ref SyntaxCursor c, int form, out bool more)
    {
        more = false;
        return c.ObjectRest();
    }

    public override string ForcedPrefix(string? name) =>
        name is null ? "{\"name\": \"" : $"{{\"name\": {Quote(name)}, \"parameters\": ";
}
