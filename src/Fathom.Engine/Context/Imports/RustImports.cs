using System.Text.RegularExpressions;

namespace Fathom.Context.Imports;

/// <summary>
/// Rust: <c>mod x;</c> gives "mod x"; <c>use crate::a::b::{C, d::E};</c> gives crate::a::b::C and crate::a::b::d::E;
/// <c>super::</c> and <c>self::</c> paths likewise. External crates (<c>use std::…</c>) are not returned.
/// </summary>
internal static partial class RustImports
{
    [GeneratedRegex(@"^\s*(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(\w+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Mod();

    [GeneratedRegex(@"^\s*(?:pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]+);", RegexOptions.Multiline)]
    private static partial Regex Use();

    public static List<string> Parse(string source)
    {
        string text = SourceText.StripCComments(source);
        var result = new List<(int, string)>();
        foreach (Match m in Mod().Matches(text))
            result.Add((m.Index, "mod " + m.Groups[1].Value));
        foreach (Match m in Use().Matches(text))
        {
            foreach (string path in Expand(Regex.Replace(Regex.Replace(m.Groups[1].Value, @"\s+as\s+\w+", ""), @"\s+", "")))
            {
                if (path.StartsWith("crate::", StringComparison.Ordinal) || path.StartsWith("super::", StringComparison.Ordinal)
                    || path.StartsWith("self::", StringComparison.Ordinal))
                    result.Add((m.Index, path));
            }
        }
        return result.OrderBy(r => r.Item1).Select(r => r.Item2).Distinct().ToList();
    }

    /// <summary>Expands one level (or more) of braces: a::{b, c::{d}} → a::b, a::c::d; "as" renames and "self" are dropped.</summary>
    private static IEnumerable<string> Expand(string tree)
    {
        int brace = tree.IndexOf('{');
        if (brace < 0)
        {
            yield return tree.EndsWith("::self", StringComparison.Ordinal) ? tree[..^6] : tree;
            yield break;
        }
        string prefix = tree[..brace];
        string inner = tree[(brace + 1)..tree.LastIndexOf('}')];
        foreach (string item in SplitTop(inner))
        {
            if (item.Length == 0)
                continue;
            foreach (string sub in Expand(item == "self" ? prefix.TrimEnd(':') : prefix + item))
                yield return sub;
        }
    }

    private static IEnumerable<string> SplitTop(string s)
    {
        int depth = 0, start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '{') depth++;
            else if (s[i] == '}') depth--;
            else if (s[i] == ',' && depth == 0)
            {
                yield return s[start..i];
                start = i + 1;
            }
        }
        yield return s[start..];
    }
}
