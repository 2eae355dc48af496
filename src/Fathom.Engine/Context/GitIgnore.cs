namespace Fathom.Context;

/// <summary>One line of a .gitignore file, parsed as git parses it.</summary>
public sealed record GitIgnoreRule(string BaseDirectory, string Pattern, bool Negated, bool DirectoryOnly, bool Anchored)
{
    /// <summary>Whether this rule's pattern matches <paramref name="path"/> (relative to the repository root, '/'-separated).</summary>
    public bool Matches(string path, bool isDirectory)
    {
        if (DirectoryOnly && !isDirectory)
            return false;
        string relative;
        if (BaseDirectory.Length == 0)
        {
            relative = path;
        }
        else
        {
            if (path.Length <= BaseDirectory.Length || !path.StartsWith(BaseDirectory, StringComparison.Ordinal) || path[BaseDirectory.Length] != '/')
                return false;
            relative = path[(BaseDirectory.Length + 1)..];
        }
        if (Anchored)
            return Wildmatch.Match(Pattern, relative);
        int slash = relative.LastIndexOf('/');
        return Wildmatch.Match(Pattern, slash < 0 ? relative : relative[(slash + 1)..]);
    }
}

/// <summary>
/// Git's ignore rules: .git/info/exclude, then each directory's .gitignore from the root down; among all rules the
/// last one that matches decides (a <c>!</c> rule re-includes). A path inside an ignored directory is ignored
/// whatever later rules say, as in git.
/// </summary>
public sealed class GitIgnore
{
    private readonly List<GitIgnoreRule> _rules = [];

    public IReadOnlyList<GitIgnoreRule> Rules => _rules;

    /// <summary>Adds the lines of a .gitignore found in <paramref name="baseDirectory"/> ("" for the root); deeper files must be added after shallower ones.</summary>
    public void Add(string baseDirectory, string content)
    {
        ArgumentNullException.ThrowIfNull(baseDirectory);
        ArgumentNullException.ThrowIfNull(content);
        _rules.AddRange(Parse(baseDirectory.Trim('/'), content));
    }

    /// <summary>Removes the rules added for <paramref name="baseDirectory"/> (a walker leaving that directory).</summary>
    internal void RemoveLast(int count) => _rules.RemoveRange(_rules.Count - count, count);

    /// <summary>Whether git would ignore <paramref name="path"/> (relative to the root, '/'-separated), checking its parent directories first.</summary>
    public bool IsIgnored(string path, bool isDirectory)
    {
        ArgumentNullException.ThrowIfNull(path);
        path = path.Trim('/');
        for (int i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1))
        {
            if (Decide(path[..i], true))
                return true;
        }
        return Decide(path, isDirectory);
    }

    /// <summary>The decision for this path alone, assuming its parents are not ignored.</summary>
    internal bool Decide(string path, bool isDirectory)
    {
        for (int i = _rules.Count - 1; i >= 0; i--)
        {
            if (_rules[i].Matches(path, isDirectory))
                return !_rules[i].Negated;
        }
        return false;
    }

    public static IReadOnlyList<GitIgnoreRule> Parse(string baseDirectory, string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var rules = new List<GitIgnoreRule>();
        foreach (string raw in content.Split('\n'))
        {
            var rule = ParseLine(baseDirectory, raw.EndsWith('\r') ? raw[..^1] : raw);
            if (rule is not null)
                rules.Add(rule);
        }
        return rules;
    }

    private static GitIgnoreRule? ParseLine(string baseDirectory, string line)
    {
        if (line.Length == 0 || line[0] == '#')
            return null;
        // Trailing spaces go unless the last one is escaped with a backslash.
        int end = line.Length;
        while (end > 0 && line[end - 1] == ' ')
        {
            if (end >= 2 && line[end - 2] == '\\')
                break;
            end--;
        }
        line = line[..end];
        bool negated = false;
        if (line.StartsWith('!'))
        {
            negated = true;
            line = line[1..];
        }
        bool directoryOnly = false;
        if (line.EndsWith('/') && !line.EndsWith("\\/", StringComparison.Ordinal))
        {
            directoryOnly = true;
            line = line.TrimEnd('/');
        }
        if (line.Length == 0)
            return null;
        bool anchored = line.Contains('/');
        if (line[0] == '/')
            line = line[1..];
        if (line.Length == 0)
            return null;
        return new GitIgnoreRule(baseDirectory, line, negated, directoryOnly, anchored);
    }
}

/// <summary>Git's wildmatch with WM_PATHNAME: <c>*</c>, <c>?</c> and <c>[…]</c> stop at '/', <c>**</c> between slashes crosses them, backslash escapes.</summary>
public static class Wildmatch
{
    public static bool Match(string pattern, string text)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        return Match(pattern, 0, text, 0) == Result.Match;
    }

    private enum Result { Match, NoMatch, AbortAll, AbortToStarStar }

    private static Result Match(string p, int pi, string t, int ti)
    {
        for (; pi < p.Length; pi++, ti++)
        {
            char pc = p[pi];
            if (ti >= t.Length && pc != '*')
                return Result.AbortAll;
            switch (pc)
            {
                case '\\':
                    if (++pi >= p.Length)
                        return Result.AbortAll;
                    if (t[ti] != p[pi])
                        return Result.NoMatch;
                    break;
                case '?':
                    if (t[ti] == '/')
                        return Result.NoMatch;
                    break;
                case '*':
                {
                    bool matchSlash = false;
                    if (pi + 1 < p.Length && p[pi + 1] == '*')
                    {
                        int prev = pi;
                        while (pi + 1 < p.Length && p[pi + 1] == '*')
                            pi++;
                        bool startOk = prev == 0 || p[prev - 1] == '/';
                        bool endOk = pi + 1 == p.Length || p[pi + 1] == '/';
                        if (startOk && endOk)
                        {
                            // "**/" may also match zero directories: try the rest of the pattern right here.
                            if (pi + 1 < p.Length && p[pi + 1] == '/' && Match(p, pi + 2, t, ti) == Result.Match)
                                return Result.Match;
                            matchSlash = true;
                        }
                    }
                    if (pi + 1 == p.Length)
                    {
                        // A trailing star matches the rest, unless that rest crosses a directory and the star cannot.
                        return matchSlash || t.IndexOf('/', ti) < 0 ? Result.Match : Result.NoMatch;
                    }
                    for (; ; ti++)
                    {
                        if (ti > t.Length)
                            return Result.AbortAll;
                        var r = Match(p, pi + 1, t, ti);
                        if (r != Result.NoMatch)
                        {
                            if (!matchSlash || r != Result.AbortToStarStar)
                                return r;
                        }
                        if (ti >= t.Length)
                            return Result.AbortAll;
                        if (!matchSlash && t[ti] == '/')
                            return Result.AbortToStarStar;
                    }
                }
                case '[':
                {
                    var r = MatchClass(p, ref pi, t[ti]);
                    if (r != Result.Match)
                        return r;
                    break;
                }
                default:
                    if (t[ti] != pc)
                        return Result.NoMatch;
                    break;
            }
        }
        return ti == t.Length ? Result.Match : Result.NoMatch;
    }

    private static Result MatchClass(string p, ref int pi, char c)
    {
        int i = pi + 1;
        if (i >= p.Length)
            return Result.AbortAll;
        bool negate = p[i] == '!' || p[i] == '^';
        if (negate)
            i++;
        bool matched = false;
        bool first = true;
        char prev = '\0';
        for (; i < p.Length && (first || p[i] != ']'); i++, first = false)
        {
            char pc = p[i];
            if (pc == '\\')
            {
                if (++i >= p.Length)
                    return Result.AbortAll;
                pc = p[i];
                if (pc == c)
                    matched = true;
            }
            else if (pc == '-' && !first && i + 1 < p.Length && p[i + 1] != ']' && prev != '\0')
            {
                char hi = p[++i];
                if (hi == '\\')
                {
                    if (++i >= p.Length)
                        return Result.AbortAll;
                    hi = p[i];
                }
                if (c >= prev && c <= hi)
                    matched = true;
                pc = '\0';
            }
            else if (pc == '[' && i + 1 < p.Length && p[i + 1] == ':')
            {
                int close = p.IndexOf(":]", i + 2, StringComparison.Ordinal);
                if (close < 0)
                    return Result.AbortAll;
                string name = p[(i + 2)..close];
                if (CharClass(name, c))
                    matched = true;
                i = close + 1;
                pc = '\0';
            }
            else if (pc == c)
            {
                matched = true;
            }
            prev = pc;
        }
        if (i >= p.Length)
            return Result.AbortAll;
        pi = i;
        return matched != negate && c != '/' ? Result.Match : Result.NoMatch;
    }

    private static bool CharClass(string name, char c) => name switch
    {
        "alnum" => char.IsAsciiLetterOrDigit(c),
        "alpha" => char.IsAsciiLetter(c),
        "blank" => c is ' ' or '\t',
        "cntrl" => char.IsControl(c),
        "digit" => char.IsAsciiDigit(c),
        "graph" => c > ' ' && c < 127,
        "lower" => char.IsAsciiLetterLower(c),
        "print" => c >= ' ' && c < 127,
        "punct" => char.IsAsciiLetterOrDigit(c) is false && c > ' ' && c < 127,
        "space" => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v',
        "upper" => char.IsAsciiLetterUpper(c),
        "xdigit" => char.IsAsciiHexDigit(c),
        _ => false,
    };
}
