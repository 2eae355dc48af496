using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>C/C++: <c>#include "x.h"</c> (local headers). Angle-bracket includes are system headers and are not returned.</summary>
internal static partial class CIncludes
{
    [GeneratedRegex(@"^[ \t]*#[ \t]*include[ \t]*""([^""\n]+)""", RegexOptions.Multiline)]
    private static partial Regex Include();

    public static List<string> Parse(string source) =>
        Include().Matches(SourceText.StripCComments(source)).Select(m => m.Groups[1].Value).Distinct().ToList();
}
