using System.Text;
using System.Text.RegularExpressions;

namespace Fathom.Context;

/// <summary>
/// A cheap, line-based outline of a source file: its imports, type declarations and member signatures, each with its
/// line number, bodies left out. Used for files too big to pack whole. Markdown gives its headings.
/// </summary>
public static partial class Outline
{
    private const int MaxLineLength = 200;

    [GeneratedRegex(@"^\s*(?:\[[^\]]*\]\s*)*(?:(?:public|private|protected|internal|static|abstract|sealed|override|virtual|async|partial|readonly|extern|unsafe|new|file|required|const|implicit|explicit|ref|final|synchronized|default|native|strictfp|transient|volatile)\s+)*(?:class|struct|interface|enum|record|namespace|delegate|package|import|using|@interface)\b")]
    private static partial Regex CLikeType();

    [GeneratedRegex(@"^\s*(?:\[[^\]]*\]\s*)*(?:public|protected|internal|private|static|abstract|override|virtual|async|extern|final|synchronized|default)\b[^=;{]*?[\w>\]?]\s*\(|^\s*(?:\[[^\]]*\]\s*)*(?:public|protected|internal)\s[^=(;]*\{\s*(?:get|set|init)\b|^\s*(?:public|protected|internal)\s+(?:const|static\s+readonly|readonly|event)\s")]
    private static partial Regex CLikeMember();

    [GeneratedRegex(@"^\s*(?:@\w+|(?:async\s+)?def\s|class\s|import\s|from\s\S+\s+import\s)")]
    private static partial Regex PythonDecl();

    [GeneratedRegex(@"^(?:export\s|import\s|(?:async\s+)?function\b|class\s|interface\s|type\s|enum\s|declare\s|namespace\s|module\.exports)|^\s+(?:(?:public|private|protected|static|async|readonly|abstract|override|get|set)\s+)*(?:constructor|#?[A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\([^;]*\)\s*(?::\s*[^{;=]+)?\s*\{\s*$")]
    private static partial Regex JsDecl();

    [GeneratedRegex(@"^(?:package|import|func|type|var|const)\b|^\s+[A-Z]\w*\s*\(")]
    private static partial Regex GoDecl();

    [GeneratedRegex(@"^\s*(?:#\[|(?:pub(?:\s*\([^)]*\))?\s+)?(?:(?:async|const|unsafe|extern\s+""[^""]*"")\s+)*(?:fn|struct|enum|trait|impl|mod|type|union|macro_rules!|use)\b)")]
    private static partial Regex RustDecl();

    [GeneratedRegex(@"^\s*(?:#\s*(?:include|define)\b|(?:typedef|struct|class|enum|union|namespace|template)\b)|^[A-Za-z_][\w:<>,*&\s]*[\s*&]+[*&]*~?[A-Za-z_][\w:~]*\s*\([^;]*$|^\s+(?:virtual\s+|static\s+|explicit\s+|inline\s+)*[A-Za-z_][\w:<>,*&\s]*[\s*&]+~?[A-Za-z_]\w*\s*\([^;{]*\)\s*(?:const\s*)?(?:override\s*)?;")]
    private static partial Regex CDecl();

    [GeneratedRegex(@"^#{1,6}\s")]
    private static partial Regex MarkdownHeading();

    /// <summary>The outline of <paramref name="content"/>, or "" when the language is unknown or nothing was found.</summary>
    public static string Extract(string path, string content)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(content);
        Regex? keep = ImportGraph.LanguageOf(path) switch
        {
            SourceLanguage.CSharp or SourceLanguage.Java => null,
            SourceLanguage.Python => PythonDecl(),
            SourceLanguage.JavaScript => JsDecl(),
            SourceLanguage.Go => GoDecl(),
            SourceLanguage.Rust => RustDecl(),
            SourceLanguage.C => CDecl(),
            _ => path.EndsWith(".md", StringComparison.OrdinalIgnoreCase) ? MarkdownHeading() : null,
        };
        bool cLike = ImportGraph.LanguageOf(path) is SourceLanguage.CSharp or SourceLanguage.Java;
        if (keep is null && !cLike)
            return "";
        var sb = new StringBuilder();
        int number = 0;
        foreach (string raw in content.Split('\n'))
        {
            number++;
            string line = raw.TrimEnd('\r', ' ', '\t');
            if (line.Length == 0)
                continue;
            bool take = cLike ? CLikeType().IsMatch(line) || CLikeMember().IsMatch(line) : keep!.IsMatch(line);
            if (!take)
                continue;
            // Leave the body out: cut at an opening brace or expression body that ends the line.
            if (line.EndsWith('{'))
                line = line[..^1].TrimEnd();
            int arrow = line.IndexOf(" => ", StringComparison.Ordinal);
            if (arrow > 0 && cLike)
                line = line[..arrow];
            if (line.Length > MaxLineLength)
                line = line[..MaxLineLength] + "…";
            sb.Append(number).Append(": ").Append(line).Append('\n');
        }
        return sb.ToString();
    }
}
