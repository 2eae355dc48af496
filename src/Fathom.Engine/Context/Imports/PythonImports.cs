using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>
/// Python: <c>import a.b as c, d</c> gives a.b and d; <c>from .x import y, z</c> gives .x, .x.y and .x.z (each name
/// may be a submodule; the resolver keeps what exists). Leading dots are kept for relative imports.
/// </summary>
internal static partial class PythonImports
{
    [GeneratedRegex(@"^[ \t]*import[ \t]+([^\n#;]+)", RegexOptions.Multiline)]
    private static partial Regex Import();

    [GeneratedRegex(@"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)", RegexOptions.Multiline)]
    private static partial Regex FromImport();

    public static List<string> Parse(string source)
    {
        var result = new List<(int At, string Name)>();
        foreach (Match m in Import().Matches(source))
        {
            foreach (string part in m.Groups[1].Value.Split(','))
            {
                string name = part.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
                if (name.Length > 0)
                    result.Add((m.Index, name));
            }
        }
        foreach (Match m in FromImport().Matches(source))
        {
            string module = m.Groups[1].Value;
            if (module.Length == 0)
                continue;
            result.Add((m.Index, module));
            string names = m.Groups[2].Value.Trim().TrimStart('(').TrimEnd(')').TrimEnd('\\');
            foreach (string part in names.Split(','))
            {
                string name = part.Trim().Split((char[])[' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
                if (name.Length == 0 || name == "*" || !IsIdentifier(name))
                    continue;
                result.Add((m.Index, module.EndsWith('.') ? module + name : module + "." + name));
            }
        }
        return result.OrderBy(r => r.At).Select(r => r.Name).Distinct().ToList();
    }

    private static bool IsIdentifier(string s) => s.All(c => char.IsLetterOrDigit(c) || c == '_');
}
