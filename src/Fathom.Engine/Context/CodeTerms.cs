namespace Fathom.Context;

/// <summary>
/// Splits code into search terms: identifiers are broken at camelCase, PascalCase, snake_case and letter/digit
/// boundaries and lowercased (<c>parseHTTPResponse2</c> → parse, http, response, 2); a compound identifier also
/// yields itself whole (<c>parsehttpresponse2</c>) so exact names rank first.
/// </summary>
public static class CodeTerms
{
    public static IReadOnlyList<string> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var terms = new List<string>();
        Visit(text, term => terms.Add(new string(term)));
        return terms;
    }

    internal delegate void TermVisitor(ReadOnlySpan<char> term);

    /// <summary>Calls <paramref name="visit"/> with each lowercased term; the span is only valid during the call.</summary>
    internal static void Visit(ReadOnlySpan<char> text, TermVisitor visit)
    {
        Span<char> buffer = stackalloc char[128];
        int i = 0;
        while (i < text.Length)
        {
            if (!IsWord(text[i]))
            {
                i++;
                continue;
            }
            int start = i;
            while (i < text.Length && IsWord(text[i]))
                i++;
            EmitIdentifier(text[start..i], buffer, visit);
        }
    }

    private static void EmitIdentifier(ReadOnlySpan<char> id, Span<char> buffer, TermVisitor visit)
    {
        int parts = 0;
        int p = 0;
        while (p < id.Length)
        {
            if (id[p] == '_')
            {
                p++;
                continue;
            }
            int s = p;
            p++;
            while (p < id.Length && !IsBoundary(id, p))
                p++;
            EmitLower(id[s..p], buffer, visit);
            parts++;
        }
        if (parts > 1)
        {
            // The whole identifier without underscores, so `get_value` and `getValue` both match `getvalue`.
            int n = 0;
            foreach (char c in id)
            {
                if (c == '_')
                    continue;
                if (n == buffer.Length)
                    return;
                buffer[n++] = char.ToLowerInvariant(c);
            }
            visit(buffer[..n]);
        }
    }

    private static bool IsBoundary(ReadOnlySpan<char> id, int p)
    {
        char prev = id[p - 1], c = id[p];
        if (c == '_')
            return true;
        if (char.IsDigit(c) != char.IsDigit(prev))
            return true;
        if (char.IsUpper(c) && char.IsLower(prev))
            return true;
        // The last capital of an acronym starts the next word: HTTPResponse → HTTP | Response.
        return char.IsUpper(c) && char.IsUpper(prev) && p + 1 < id.Length && char.IsLower(id[p + 1]);
    }

    private static void EmitLower(ReadOnlySpan<char> part, Span<char> buffer, TermVisitor visit)
    {
        int n = Math.Min(part.Length, buffer.Length);
        for (int k = 0; k < n; k++)
            buffer[k] = char.ToLowerInvariant(part[k]);
        visit(buffer[..n]);
    }

    private static bool IsWord(char c) => char.IsLetterOrDigit(c) || c == '_';
}
