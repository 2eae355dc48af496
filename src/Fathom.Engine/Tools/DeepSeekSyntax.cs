namespace Fathom.Tools;

/// <summary>
/// DeepSeek-R1 (and V3/V3.1): <c>&lt;｜tool▁calls▁begin｜&gt;&lt;｜tool▁call▁begin｜&gt;function&lt;｜tool▁sep｜&gt;name</c>
/// then the arguments in a <c>```json</c> fence, <c>&lt;｜tool▁call▁end｜&gt;</c>, further calls, <c>&lt;｜tool▁calls▁end｜&gt;</c>.
/// V3.1's <c>&lt;｜tool▁call▁begin｜&gt;name&lt;｜tool▁sep｜&gt;{…}</c> is read too.
/// </summary>
internal sealed class DeepSeekSyntax : ToolSyntax
{
    private const string CallsBegin = "<｜tool▁calls▁begin｜>";
    private const string CallsEnd = "<｜tool▁calls▁end｜>";
    private const string CallBegin = "<｜tool▁call▁begin｜>";
    private const string CallEnd = "<｜tool▁call▁end｜>";
    private const string Sep = "<｜tool▁sep｜>";
    public static readonly DeepSeekSyntax Instance = new();

    public override IReadOnlyList<string> Openers { get; } = [CallsBegin, CallBegin];

    public override Match Header(ref SyntaxCursor c, int form, out CallHeader header)
    {
        header = default;
        Match m;
        if (form < 0 && (m = c.Opt(CallsBegin, out _)) != Match.Ok)
            return m;
        c.Ws();
        if ((m = c.Lit(CallBegin)) != Match.Ok)
            return m;
        if ((m = c.Until(out string first, 256, Sep)) != Match.Ok)
            return m;
        c.Pos += Sep.Length;
        string name = first.Trim();
        if (name is "" or "function")
        {
            if ((m = c.Until(out name, 256, "\n", "```", "{")) != Match.Ok)
                return m;
            name = name.Trim();
        }
        if (name.Length == 0)
            return Match.Fail;
        c.Ws();
        if ((m = c.Opt("```json", out bool fenced)) != Match.Ok)
            return m;
        if (!fenced && (m = c.Opt("```", out _)) != Match.Ok)
            return m;
        c.Ws();
        if (c.AtEnd)
            return c.Final ? Match.Fail : Match.More;
        header = new CallHeader(name, false, 0);
        return Match.Ok;
    }

    public override Match Trailer(ref SyntaxCursor c, int form, out bool more)
    {
        more = false;
        c.Ws();
        var m = c.Opt("```", out _);
        if (m != Match.Ok)
            return m;
        c.Ws();
        if (c.AtEnd && c.Final)
            return Match.Ok;
        if ((m = c.Lit(CallEnd)) != Match.Ok)
            return m;
        c.Ws();
        if (c.AtEnd)
            return c.Final ? Match.Ok : Match.More;
        var probe = c;
        m = probe.Lit(CallBegin);
        if (m != Match.Fail)
        {
            more = m == Match.Ok;
            return m;
        }
        return c.Opt(CallsEnd, out _);
    }

    public override string ForcedPrefix(string? name) =>
        name is null ? $"{CallsBegin}{CallBegin}function{Sep}" : $"{CallsBegin}{CallBegin}function{Sep}{name}\n```json\n";
}
