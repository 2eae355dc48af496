using System.Text;

namespace Fathom.Context.Imports;

/// <summary>Helpers the per-language import parsers share.</summary>
internal static class SourceText
{
    /// <summary>Blanks out // and /* */ comments (keeping newlines and string literals) so a commented-out import is not read.</summary>
    public static string StripCComments(string source)
    {
        var sb = new StringBuilder(source.Length);
        int i = 0;
        while (i < source.Length)
        {
            char c = source[i];
            if (c == '/' && i + 1 < source.Length && source[i + 1] == '/')
            {
                while (i < source.Length && source[i] != '\n')
                    i++;
            }
            else if (c == '/' && i + 1 < source.Length && source[i + 1] == '*')
            {
                i += 2;
                while (i < source.Length && !(source[i] == '*' && i + 1 < source.Length && source[i + 1] == '/'))
                {
                    if (source[i] == '\n')
                        sb.Append('\n');
                    i++;
                }
                i += 2;
            }
            else if (c is '"' or '\'' or '`')
            {
                int start = i++;
                while (i < source.Length && source[i] != c && source[i] != '\n')
                    i += source[i] == '\\' ? 2 : 1;
                i = Math.Min(i + 1, source.Length);
                sb.Append(source, start, i - start);
            }
            else
            {
                sb.Append(c);
                i++;
            }
        }
        return sb.ToString();
    }

    public static IEnumerable<string> Lines(string source) => source.Split('\n').Select(l => l.TrimEnd('\r'));
}
