using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>JavaScript/TypeScript: <c>import … from 'x'</c>, <c>import 'x'</c>, <c>export … from 'x'</c>, <c>require('x')</c>, <c>import('x')</c>.</summary>
internal static partial class JavaScriptImports
{
    [GeneratedRegex(@"(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(['""])([^'""\n]+)\1")]
    private static partial Regex Specifier();

    public static List<string> Parse(string source) =>
        Specifier().Matches(SourceText.StripCComments(source)).Select(m => m.Groups[2].Value).Distinct().ToList();
}
