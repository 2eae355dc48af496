using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>Go: <c>import "p"</c>, <c>import alias "p"</c> and <c>import ( … )</c> blocks; also the module path of a go.mod.</summary>
internal static partial class GoImports
{
    [GeneratedRegex(@"^\s*import\s*\(([^)]*)\)", RegexOptions.Multiline)]
    private static partial Regex Block();

    [GeneratedRegex(@"^\s*import\s+(?:[\w.]+\s+)?""([^""]+)""", RegexOptions.Multiline)]
    private static partial Regex Single();

    [GeneratedRegex(@"^(?:[\w.]+\s+)?""([^""]+)""")]
    private static partial Regex BlockLine();

    [GeneratedRegex(@"^\s*module\s+""?([^\s""]+)""?", RegexOptions.Multiline)]
    private static partial Regex Module();

    public static List<string> Parse(string source)
    {
        string text = SourceText.StripCComments(source);
        var result = new List<(int, string)>();
        foreach (Match m in Single().Matches(text))
            result.Add((m.Index, m.Groups[1].Value));
        foreach (Match m in Block().Matches(text))
        {
            foreach (string line in SourceText.Lines(m.Groups[1].Value))
            {
                var lm = BlockLine().Match(line.Trim());
                if (lm.Success)
                    result.Add((m.Index, lm.Groups[1].Value));
            }
        }
        return result.OrderBy(r => r.Item1).Select(r => r.Item2).Distinct().ToList();
    }

    public static string? ModulePath(string goMod)
    {
        var m = Module().Match(SourceText.StripCComments(goMod));
        return m.Success ? m.Groups[1].Value : null;
    }
}
