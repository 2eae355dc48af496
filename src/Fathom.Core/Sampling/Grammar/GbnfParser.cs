using System.Globalization;
using System.Text;

namespace Fathom.Sampling;

/// <summary>One symbol of a parsed alternative: a set of code points (sorted, merged inclusive ranges) or a rule reference.</summary>
internal readonly record struct GbnfSymbol(int[]? Ranges, int Rule)
{
    public static GbnfSymbol Chars(int[] ranges) => new(ranges, -1);
    public static GbnfSymbol Ref(int rule) => new(null, rule);
}

internal sealed class GbnfRule(string name, int offset)
{
    public string Name { get; } = name;

    /// <summary>Offset of the definition (or of the group / repetition that made a synthetic rule); -1 while only referenced.</summary>
    public int Offset { get; set; } = offset;

    public int FirstReference { get; set; } = -1;
    public List<List<GbnfSymbol>> Alternatives { get; } = [];
}

/// <summary>
/// Reads llama.cpp's GBNF: <c>name ::= alternatives</c> one rule per line (continued inside parentheses or after
/// '|'), literals, character classes, '.', groups, <c>* + ? {m} {m,} {m,n}</c> and '#' comments. Groups and
/// repetitions become synthetic rules, the way llama.cpp's parser rewrites them.
/// </summary>
internal sealed class GbnfParser
{
    internal const int MaxCodePoint = 0x10FFFF;
    private const int MaxRepetition = 10_000;
    private readonly string _text;
    private readonly List<GbnfRule> _rules = [];
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);
    private int _pos;

    private GbnfParser(string text) => _text = text;

    public static List<GbnfRule> Parse(string text)
    {
        var p = new GbnfParser(text);
        p.ParseRules();
        return p._rules;
    }

    public GrammarException Error(string message, int offset) => ErrorAt(_text, message, offset);

    public static GrammarException ErrorAt(string text, string message, int offset)
    {
        int line = 1, col = 1;
        for (int i = 0; i < offset && i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                line++;
                col = 1;
            }
            else
            {
                col++;
            }
        }
        return new GrammarException(message, line, col);
    }

    private bool AtEnd => _pos >= _text.Length;
    private char Cur => _text[_pos];

    private void ParseRules()
    {
        while (true)
        {
            SkipSpace(newlineOk: true);
            if (AtEnd)
                break;
            int start = _pos;
            string name = ParseName();
            SkipSpace(newlineOk: false);
            if (!_text.AsSpan(_pos).StartsWith("::=", StringComparison.Ordinal))
                throw Error($"expected '::=' after the rule name '{name}'", _pos);
            _pos += 3;
            int index = RuleIndex(name, -1);
            var rule = _rules[index];
            if (rule.Offset >= 0)
                throw Error($"rule '{name}' is defined twice", start);
            rule.Offset = start;
            SkipSpace(newlineOk: true);
            ParseAlternatives(rule, nested: false);
            SkipSpace(newlineOk: false);
            if (!AtEnd && Cur is not ('\n' or '\r'))
                throw Error($"unexpected '{Cur}' (a rule ends at the end of its line; wrap multi-line bodies in parentheses)", _pos);
        }
    }

    private int RuleIndex(string name, int referencedAt)
    {
        if (!_byName.TryGetValue(name, out int index))
        {
            index = _rules.Count;
            _rules.Add(new GbnfRule(name, -1));
            _byName[name] = index;
        }
        if (referencedAt >= 0 && _rules[index].FirstReference < 0)
            _rules[index].FirstReference = referencedAt;
        return index;
    }

    private int NewRule(string baseName, int offset)
    {
        string name;
        int n = _rules.Count;
        do
            name = $"{baseName}_{n++}";
        while (_byName.ContainsKey(name));
        int index = _rules.Count;
        _rules.Add(new GbnfRule(name, offset));
        _byName[name] = index;
        return index;
    }

    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';

    private string ParseName()
    {
        int start = _pos;
        while (!AtEnd && IsWordChar(Cur))
            _pos++;
        if (_pos == start)
            throw Error(AtEnd ? "expected a rule name" : $"expected a rule name, found '{Cur}'", start);
        return _text[start.._pos];
    }

    private void SkipSpace(bool newlineOk)
    {
        while (!AtEnd)
        {
            char c = Cur;
            if (c is ' ' or '\t' || (newlineOk && c is '\n' or '\r'))
            {
                _pos++;
            }
            else if (c == '#')
            {
                while (!AtEnd && Cur is not ('\n' or '\r'))
                    _pos++;
            }
            else
            {
                break;
            }
        }
    }

    private void ParseAlternatives(GbnfRule rule, bool nested)
    {
        rule.Alternatives.Add(ParseSequence(rule, nested));
        while (!AtEnd && Cur == '|')
        {
            _pos++;
            SkipSpace(newlineOk: true);
            rule.Alternatives.Add(ParseSequence(rule, nested));
        }
    }

    private List<GbnfSymbol> ParseSequence(GbnfRule rule, bool nested)
    {
        var seq = new List<GbnfSymbol>();
        int lastAtom = -1;
        while (!AtEnd)
        {
            char c = Cur;
            int at = _pos;
            if (c == '"')
            {
                _pos++;
                lastAtom = seq.Count;
                while (true)
                {
                    if (AtEnd || Cur is '\n' or '\r')
                        throw Error("unterminated string literal", at);
                    if (Cur == '"')
                    {
                        _pos++;
                        break;
                    }
                    int cp = ParseChar();
                    seq.Add(GbnfSymbol.Chars([cp, cp]));
                }
            }
            else if (c == '[')
            {
                _pos++;
                bool negated = !AtEnd && Cur == '^';
                if (negated)
                    _pos++;
                var ranges = new List<int>();
                while (true)
                {
                    if (AtEnd || Cur is '\n' or '\r')
                        throw Error("unterminated character class", at);
                    if (Cur == ']')
                    {
                        _pos++;
                        break;
                    }
                    int rangeAt = _pos;
                    int lo = ParseChar();
                    int hi = lo;
                    if (_pos + 1 < _text.Length && Cur == '-' && _text[_pos + 1] != ']')
                    {
                        _pos++;
                        hi = ParseChar();
                        if (hi < lo)
                            throw Error($"character range is backwards (U+{lo:X4} > U+{hi:X4})", rangeAt);
                    }
                    ranges.Add(lo);
                    ranges.Add(hi);
                }
                lastAtom = seq.Count;
                seq.Add(GbnfSymbol.Chars(CodePointSet.Normalize(ranges, negated)));
            }
            else if (c == '.')
            {
                _pos++;
                lastAtom = seq.Count;
                seq.Add(GbnfSymbol.Chars(CodePointSet.Normalize([0, MaxCodePoint], negated: false)));
            }
            else if (IsWordChar(c))
            {
                string name = ParseName();
                lastAtom = seq.Count;
                seq.Add(GbnfSymbol.Ref(RuleIndex(name, at)));
            }
            else if (c == '(')
            {
                _pos++;
                SkipSpace(newlineOk: true);
                int sub = NewRule(rule.Name, at);
                ParseAlternatives(_rules[sub], nested: true);
                if (AtEnd || Cur != ')')
                    throw Error("expected ')' to close the group", AtEnd ? _pos : _pos);
                _pos++;
                lastAtom = seq.Count;
                seq.Add(GbnfSymbol.Ref(sub));
            }
            else if (c is '*' or '+' or '?' or '{')
            {
                if (lastAtom < 0)
                    throw Error($"'{c}' has nothing before it to repeat", at);
                _pos++;
                int min, max;
                switch (c)
                {
                    case '*': (min, max) = (0, -1); break;
                    case '+': (min, max) = (1, -1); break;
                    case '?': (min, max) = (0, 1); break;
                    default:
                        SkipSpace(newlineOk: nested);
                        min = ParseInt(at);
                        SkipSpace(newlineOk: nested);
                        max = min;
                        if (!AtEnd && Cur == ',')
                        {
                            _pos++;
                            SkipSpace(newlineOk: nested);
                            max = !AtEnd && char.IsAsciiDigit(Cur) ? ParseInt(at) : -1;
                            SkipSpace(newlineOk: nested);
                        }
                        if (AtEnd || Cur != '}')
                            throw Error("expected '}' to close the repetition", _pos);
                        _pos++;
                        if (max >= 0 && max < min)
                            throw Error($"repetition {{{min},{max}}} has max < min", at);
                        break;
                }
                Repeat(rule, seq, lastAtom, min, max, at);
                lastAtom = -1;
            }
            else if (c == '<')
            {
                throw Error("token references (<...>) are not supported", at);
            }
            else
            {
                break;
            }
            SkipSpace(newlineOk: nested);
        }
        return seq;
    }

    private int ParseInt(int repetitionAt)
    {
        int start = _pos;
        while (!AtEnd && char.IsAsciiDigit(Cur))
            _pos++;
        if (_pos == start)
            throw Error("expected a number in the repetition", _pos);
        if (!int.TryParse(_text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v > MaxRepetition)
            throw Error($"repetition count is larger than {MaxRepetition}", repetitionAt);
        return v;
    }

    /// <summary>Replaces seq[from..] (the last atom) with its repetition, llama.cpp-style: m copies, then an optional tail.</summary>
    private void Repeat(GbnfRule rule, List<GbnfSymbol> seq, int from, int min, int max, int at)
    {
        var atom = seq.GetRange(from, seq.Count - from);
        seq.RemoveRange(from, seq.Count - from);
        if (atom.Count == 0)
            throw Error("nothing to repeat", at);
        // A multi-symbol atom (a literal) repeated gets its own rule so copies are one reference each.
        if (atom.Count > 1 && (min > 1 || max != 1))
        {
            int lit = NewRule(rule.Name, at);
            _rules[lit].Alternatives.Add(atom);
            atom = [GbnfSymbol.Ref(lit)];
        }
        for (int i = 0; i < min; i++)
            seq.AddRange(atom);
        if (max < 0)
        {
            // star ::= atom star | ε
            int star = NewRule(rule.Name, at);
            var loop = new List<GbnfSymbol>(atom) { GbnfSymbol.Ref(star) };
            _rules[star].Alternatives.Add(loop);
            _rules[star].Alternatives.Add([]);
            seq.Add(GbnfSymbol.Ref(star));
            return;
        }
        int optional = max - min;
        if (optional == 0)
            return;
        // opt_k ::= atom opt_(k-1) | ε, with opt_0 absent
        int previous = -1;
        for (int k = 1; k <= optional; k++)
        {
            int opt = NewRule(rule.Name, at);
            var body = new List<GbnfSymbol>(atom);
            if (previous >= 0)
                body.Add(GbnfSymbol.Ref(previous));
            _rules[opt].Alternatives.Add(body);
            _rules[opt].Alternatives.Add([]);
            previous = opt;
        }
        seq.Add(GbnfSymbol.Ref(previous));
    }

    private int ParseChar()
    {
        int at = _pos;
        char c = Cur;
        if (c == '\\')
        {
            _pos++;
            if (AtEnd)
                throw Error("the escape at the end of the text is incomplete", at);
            char e = Cur;
            _pos++;
            switch (e)
            {
                case 'n': return '\n';
                case 'r': return '\r';
                case 't': return '\t';
                case '\\' or '"' or '[' or ']' or '-' or '^' or '/' or '\'': return e;
                case 'x': return ParseHex(2, at);
                case 'u': return ParseHex(4, at);
                case 'U': return ParseHex(8, at);
                default: throw Error($"unknown escape '\\{e}'", at);
            }
        }
        if (char.IsHighSurrogate(c) && _pos + 1 < _text.Length && char.IsLowSurrogate(_text[_pos + 1]))
        {
            _pos += 2;
            return char.ConvertToUtf32(c, _text[_pos - 1]);
        }
        if (char.IsSurrogate(c))
            throw Error("the text has an unpaired UTF-16 surrogate", at);
        _pos++;
        return c;
    }

    private int ParseHex(int digits, int at)
    {
        if (_pos + digits > _text.Length)
            throw Error($"expected {digits} hex digits in the escape", at);
        if (!int.TryParse(_text.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v)
            || v > MaxCodePoint || (v >= 0xD800 && v <= 0xDFFF))
            throw Error($"escape '{_text.Substring(at, digits + 2)}' needs {digits} hex digits of a valid code point", at);
        _pos += digits;
        return v;
    }
}

/// <summary>Sets of Unicode scalar values as sorted, merged inclusive ranges [lo0, hi0, lo1, hi1, …].</summary>
internal static class CodePointSet
{
    public static int[] Normalize(List<int> ranges, bool negated)
    {
        var pairs = new List<(int Lo, int Hi)>();
        for (int i = 0; i < ranges.Count; i += 2)
            pairs.Add((ranges[i], ranges[i + 1]));
        pairs.Sort();
        var merged = new List<(int Lo, int Hi)>();
        foreach (var p in pairs)
        {
            if (merged.Count > 0 && p.Lo <= merged[^1].Hi + 1)
                merged[^1] = (merged[^1].Lo, Math.Max(merged[^1].Hi, p.Hi));
            else
                merged.Add(p);
        }
        if (negated)
        {
            var inverse = new List<(int, int)>();
            int next = 0;
            foreach (var (lo, hi) in merged)
            {
                if (lo > next)
                    inverse.Add((next, lo - 1));
                next = hi + 1;
            }
            if (next <= GbnfParser.MaxCodePoint)
                inverse.Add((next, GbnfParser.MaxCodePoint));
            merged = inverse;
        }
        // surrogates are not characters and have no UTF-8 form
        var result = new List<int>();
        foreach (var (lo, hi) in merged)
        {
            if (hi < 0xD800 || lo > 0xDFFF)
            {
                result.Add(lo);
                result.Add(hi);
                continue;
            }
            if (lo < 0xD800)
            {
                result.Add(lo);
                result.Add(0xD7FF);
            }
            if (hi > 0xDFFF)
            {
                result.Add(0xE000);
                result.Add(hi);
            }
        }
        return [.. result];
    }

    public static string Key(int[] ranges)
    {
        var sb = new StringBuilder();
        foreach (int r in ranges)
            sb.Append(r).Append(',');
        return sb.ToString();
    }
}
