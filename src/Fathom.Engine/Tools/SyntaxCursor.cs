using System.Text;

namespace Fathom.Tools;

/// <summary>The outcome of matching part of a tool call: matched, needs more text to decide, or not a call.</summary>
internal enum Match : byte { Ok, More, Fail }

/// <summary>
/// Matches the fixed parts of a tool-call syntax against text that may still be growing: a match that runs off the
/// end answers <see cref="Match.More"/> unless the text is final.
/// </summary>
internal ref struct SyntaxCursor(ReadOnlySpan<char> text, bool final)
{
    private readonly ReadOnlySpan<char> _text = text;

    public int Pos;

    public readonly bool Final => final;

    public readonly bool AtEnd => Pos >= _text.Length;

    public readonly char Peek => _text[Pos];

    public readonly ReadOnlySpan<char> Rest => _text[Pos..];

    /// <summary>Skips whitespace; at the end of unfinished text the answer is still <see cref="Match.Ok"/>.</summary>
    public void Ws()
    {
        while (Pos < _text.Length && char.IsWhiteSpace(_text[Pos]))
            Pos++;
    }

    public Match Lit(string s)
    {
        int n = Math.Min(s.Length, _text.Length - Pos);
        if (!_text.Slice(Pos, n).SequenceEqual(s.AsSpan(0, n)))
            return Match.Fail;
        if (n < s.Length)
            return final ? Match.Fail : Match.More;
        Pos += s.Length;
        return Match.Ok;
    }

    /// <summary>Like <see cref="Lit"/>, but a mismatch is not a failure: <paramref name="found"/> says whether it was there.</summary>
    public Match Opt(string s, out bool found)
    {
        found = false;
        var m = Lit(s);
        if (m == Match.Fail)
            return Match.Ok;
        found = m == Match.Ok;
        return m;
    }

    /// <summary>A JSON string literal, unescaped.</summary>
    public Match String(out string? value)
    {
        value = null;
        if (AtEnd)
            return final ? Match.Fail : Match.More;
        if (_text[Pos] != '"')
            return Match.Fail;
        var scanner = new JsonPrefixScanner();
        int i = Pos;
        for (; i < _text.Length; i++)
        {
            var step = scanner.Push(_text[i]);
            if (step == JsonStep.Invalid)
                return Match.Fail;
            if (step == JsonStep.Complete)
                break;
        }
        if (i == _text.Length)
            return final ? Match.Fail : Match.More;
        value = DecodeString(_text[Pos..(i + 1)]);
        if (value is null)
            return Match.Fail;
        Pos = i + 1;
        return Match.Ok;
    }

    /// <summary>Skips one complete JSON value.</summary>
    public Match Value()
    {
        var scanner = new JsonPrefixScanner();
        int i = Pos;
        for (; i < _text.Length; i++)
        {
            var step = scanner.Push(_text[i]);
            if (step == JsonStep.Invalid)
                return Match.Fail;
            if (step == JsonStep.EndedBefore)
            {
                Pos = i;
                return Match.Ok;
            }
            if (step == JsonStep.Complete)
            {
                Pos = i + 1;
                return Match.Ok;
            }
        }
        if (final && scanner.TryFinish())
        {
            Pos = i;
            return Match.Ok;
        }
        return final ? Match.Fail : Match.More;
    }

    /// <summary>The text up to (not including) the first of <paramref name="stops"/>; fails past <paramref name="maxLength"/> characters.</summary>
    public Match Until(out string value, int maxLength, params ReadOnlySpan<string> stops)
    {
        value = "";
        for (int i = Pos; i < _text.Length && i - Pos <= maxLength; i++)
        {
            foreach (string stop in stops)
            {
                int n = Math.Min(stop.Length, _text.Length - i);
                if (_text.Slice(i, n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    if (n < stop.Length)
                        return final ? Match.Fail : Match.More;
                    value = _text[Pos..i].ToString();
                    Pos = i;
                    return Match.Ok;
                }
            }
        }
        return _text.Length - Pos > maxLength || final ? Match.Fail : Match.More;
    }

    /// <summary>
    /// The keys of a JSON object up to the arguments value: <paramref name="nameKeys"/> give the tool name, the first of
    /// <paramref name="argsKeys"/> ends the header (the cursor stays on its value); other keys are skipped. An object that
    /// closes after the name without arguments leaves the cursor on its '}' with <paramref name="noArgs"/> set.
    /// </summary>
    public Match ObjectHeader(string[] nameKeys, string[] argsKeys, out string? name, out bool noArgs)
    {
        name = null;
        noArgs = false;
        Ws();
        var m = Lit("{");
        if (m != Match.Ok)
            return m;
        bool first = true;
        while (true)
        {
            Ws();
            if (AtEnd)
                return final ? Match.Fail : Match.More;
            if (Peek == '}')
            {
                if (name is null)
                    return Match.Fail;
                noArgs = true;
                return Match.Ok;
            }
            if (!first)
            {
                if ((m = Lit(",")) != Match.Ok)
                    return m;
                Ws();
            }
            first = false;
            if ((m = String(out string? key)) != Match.Ok)
                return m;
            Ws();
            if ((m = Lit(":")) != Match.Ok)
                return m;
            Ws();
            if (AtEnd)
                return final ? Match.Fail : Match.More;
            if (Contains(nameKeys, key!) && name is null)
            {
                if ((m = String(out name)) != Match.Ok)
                    return m;
                if (name!.Length == 0 || name.Length > 256)
                    return Match.Fail;
            }
            else if (Contains(argsKeys, key!))
                return name is null ? Match.Fail : Match.Ok;
            else if ((m = Value()) != Match.Ok)
                return m;
        }
    }

    /// <summary>The rest of an object after its arguments value: further keys are skipped, through the closing '}'.</summary>
    public Match ObjectRest()
    {
        while (true)
        {
            Ws();
            if (AtEnd)
                return final ? Match.Fail : Match.More;
            if (Peek == '}')
            {
                Pos++;
                return Match.Ok;
            }
            Match m;
            if ((m = Lit(",")) != Match.Ok)
                return m;
            Ws();
            if ((m = String(out _)) != Match.Ok)
                return m;
            Ws();
            if ((m = Lit(":")) != Match.Ok)
                return m;
            Ws();
            if ((m = Value()) != Match.Ok)
                return m;
        }
    }

    private static bool Contains(string[] keys, string key)
    {
        foreach (string k in keys)
        {
            if (k == key)
                return true;
        }
        return false;
    }

    /// <summary>A JSON string literal's value, or null when it is not one (e.g. a lone surrogate escape).</summary>
    public static string? DecodeString(ReadOnlySpan<char> literal)
    {
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(Encoding.UTF8.GetBytes(literal.ToArray()));
            return reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.String ? reader.GetString() : null;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}
