namespace Fathom.Tools;

/// <summary>
/// Mistral: <c>[TOOL_CALLS][{"name": …, "arguments": {…}, "id": …}, …]</c> (Nemo, 7B v0.3), or the v11+ tokenizer's
/// <c>[TOOL_CALLS]name[CALL_ID]id[ARGS]{…}</c> repeated per call (Small 3.2, Devstral, Magistral). Both are read;
/// <see cref="ForcedPrefix"/> writes the form the template renders.
/// </summary>
internal sealed class MistralSyntax(bool nameArgs) : ToolSyntax
{
    private const string Open = "[TOOL_CALLS]";
    private static readonly System.Buffers.SearchValues<char> NotInName = System.Buffers.SearchValues.Create(" \n\t[]{}\"");
    public static readonly MistralSyntax Json = new(false);
    public static readonly MistralSyntax NameArgs = new(true);

    public override IReadOnlyList<string> Openers { get; } = [Open];

    public override Match Header(ref SyntaxCursor c, int form, out CallHeader header)
    {
        header = default;
        Match m;
        string? name;
        bool noArgs = false;
        if (form < 0)
        {
            if ((m = c.Lit(Open)) != Match.Ok)
                return m;
            c.Ws();
            if (c.AtEnd)
                return c.Final ? Match.Fail : Match.More;
            if (c.Peek == '[')
            {
                c.Pos++;
                form = 0;
            }
            else
                form = 1;
        }
        if (form == 0)
            m = c.ObjectHeader(["name"], ["arguments", "parameters"], out name, out noArgs);
        else
        {
            if ((m = c.Until(out name, 256, "[ARGS]", "[CALL_ID]")) != Match.Ok)
                return m;
            name = name.Trim();
            if (name.Length == 0 || name.AsSpan().IndexOfAny(NotInName) >= 0)
                return Match.Fail;
            if ((m = c.Opt("[CALL_ID]", out bool hasId)) != Match.Ok)
                return m;
            if (hasId && (m = c.Until(out _, 256, "[ARGS]")) != Match.Ok)
                return m;
            m = c.Lit("[ARGS]");
            c.Ws();
        }
        if (m == Match.Ok)
            header = new CallHeader(name!, noArgs, form);
        return m;
    }

    public override Match Trailer(ref SyntaxCursor c, int form, out bool more)
    {
        more = false;
        if (form == 1)
            return Match.Ok;
        var m = c.ObjectRest();
        if (m != Match.Ok)
            return m;
        c.Ws();
        if (c.AtEnd && c.Final)
            return Match.Ok;
        if ((m = c.Opt(",", out more)) != Match.Ok || more)
            return m;
        return c.Lit("]");
    }

    public override string ForcedPrefix(string? name) => nameArgs
        ? name is null ? Open : $"{Open}{name}[ARGS]"
        : name is null ? Open + "[{\"name\": \"" : $"{Open}[{{\"name\": {Quote(name)}, \"arguments\": ";
}
