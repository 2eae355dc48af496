using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>C#: <c>using N;</c>, <c>using static N.T;</c>, <c>using A = N.T;</c>, <c>global using …</c>, and the namespaces a file declares.</summary>
internal static partial class CSharpImports
{
    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Using();

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    /// <summary>The namespace or type names imported, in order.</summary>
    public static List<string> Parse(string source) =>
        Using().Matches(SourceText.StripCComments(source)).Select(m => m.Groups[1].Value).Distinct().ToList();

    public static List<string> Namespaces(string source) =>
        Namespace().Matches(SourceText.StripCComments(source)).Select(m => m.Groups[1].Value).Distinct().ToList();
}
