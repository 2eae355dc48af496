using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>Java (and Kotlin/Scala-style lines): <c>import a.b.C;</c>, <c>import static a.b.C.m;</c>, <c>import a.b.*;</c> and the <c>package</c> a file declares.</summary>
internal static partial class JavaImports
{
    [GeneratedRegex(@"^\s*import\s+(?:static\s+)?(\w+(?:\.\w+)*(?:\.\*)?)", RegexOptions.Multiline)]
    private static partial Regex Import();

    [GeneratedRegex(@"^\s*package\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex Package();

    public static List<string> Parse(string source) =>
        Import().Matches(SourceText.StripCComments(source)).Select(m => m.Groups[1].Value).Distinct().ToList();

    public static string? PackageOf(string source)
    {
        var m = Package().Match(SourceText.StripCComments(source));
        return m.Success ? m.Groups[1].Value : null;
    }
}
