namespace Fathom.Tools;

/// <summary>
/// Cohere Command-R/R+: <c>Action: ```json [{"tool_name": …, "parameters": {…}}, …]```</c>; Command-R7B / Command-A:
/// <c>&lt;|START_ACTION|&gt;[{"tool_call_id": …, "tool_name": …, "parameters": {…}}]&lt;|END_ACTION|&gt;</c>.
/// </summary>
internal sealed class CommandRSyntax(bool startAction) : ToolSyntax
{
    private const string ActionOpen = "Action:";
    private const string StartAction = "<|START_ACTION|>";
    private const string EndAction = "<|END_ACTION|>";
    public static readonly CommandRSyntax Action = new(false);
    public static readonly CommandRSyntax StartActionForm = new(true);

    public override IReadOnlyList<string> Openers { get; } = [ActionOpen, StartAction];

    public override Match Header(ref SyntaxCursor c, int form, out CallHeader header)
    {
        header = default;
        Match m;
        if (form < 0)
        {
            m = c.Lit(ActionOpen);
            if (m == Match.More)
                return m;
            if (m == Match.Ok)
            {
                form = 0;
                c.Ws();
                if ((m = c.Opt("```json", out bool fenced)) != Match.Ok)
                    return m;
                if (!fenced && (m = c.Opt("```", out _)) != Match.Ok)
                    return m;
            }
            else
            {
                if ((m = c.Lit(StartAction)) != Match.Ok)
                    return m;
                form = 1;
            }
            c.Ws();
            if ((m = c.Lit("[")) != Match.Ok)
                return m;
        }
        m = c.ObjectHeader(["tool_name", "name"], ["parameters", "arguments"], out string? name, out bool noArgs);
        if (m == Match.Ok)
            header = new CallHeader(name!, noArgs, form);
        return m;
    }

    public override Match Trailer(ref SyntaxCursor c, int form, out bool more)
    {
        more = false;
        var m = c.ObjectRest();
        if (m != Match.Ok)
            return m;
        c.Ws();
        if (c.AtEnd && c.Final)
            return Match.Ok;
        if ((m = c.Opt(",", out more)) != Match.Ok || more)
            return m;
        if ((m = c.Lit("]")) != Match.Ok)
            return m;
        c.Ws();
        if (c.AtEnd && !c.Final)
            return Match.More;
        return c.Opt(form == 0 ? "```" : EndAction, out _);
    }

    public override string ForcedPrefix(string? name)
    {
        string open = startAction ? StartAction + "[\n    {\"tool_call_id\": \"0\", \"tool_name\": " : ActionOpen + "\n```json\n[\n    {\n        \"tool_name\": ";
        string args = startAction ? ", \"parameters\": " : ",\n        \"parameters\": ";
        return name is null ? open + "\"" : open + Quote(name) + args;
    }
}
