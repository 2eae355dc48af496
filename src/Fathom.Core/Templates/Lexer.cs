using System.Globalization;
using System.Text;

namespace Fathom.Templates;

internal enum TokenKind
{
    Data,
    VarBegin,
    VarEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column, object? Value = null)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;
    public bool IsOp(string op) => Kind == TokenKind.Operator && Text == op;
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VarEnd => "end of print statement",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.VarBegin => "begin of print statement",
        TokenKind.Data => "template data / text",
        _ => Text,
    };
}

/// <summary>
/// Splits template source into tokens the way Jinja2's lexer does with trim_blocks and lstrip_blocks on:
/// newlines normalised, one trailing newline dropped, whitespace control applied to data tokens.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] Operators =
    [
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ];

    private readonly string _src;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private int _line = 1;
    private int _lineStart;
    private bool _lineStarting = true;

    private Lexer(string source)
    {
        string s = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (s.EndsWith('\n'))
            s = s[..^1];
        _src = s;
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    internal static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    private int Col(int pos) => pos - _lineStart + 1;

    private void Advance(int to)
    {
        for (int i = _pos; i < to; i++)
        {
            if (_src[i] == '\n')
            {
                _line++;
                _lineStart = i + 1;
            }
        }
        _pos = to;
    }

    private TemplateSyntaxException Error(string reason) => new(reason, _line, Col(_pos));

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                Emit(TokenKind.Data, _src[_pos..]);
                Advance(_src.Length);
                break;
            }
            char kind = _src[tag + 1];
            char sign = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            if (sign is not ('-' or '+'))
                sign = '\0';
            string text = _src[_pos..tag];
            if (sign == '-')
                text = RStrip(text);
            else if (sign != '+' && kind != '{')
            {
                int lpos = text.LastIndexOf('\n') + 1;
                if ((lpos > 0 || _lineStarting) && lpos < text.Length && AllSpace(text, lpos))
                    text = text[..lpos];
            }
            if (text.Length > 0)
                Emit(TokenKind.Data, text);
            Advance(tag);
            int afterBegin = tag + 2 + (sign != '\0' ? 1 : 0);
            switch (kind)
            {
                case '#':
                    LexComment(afterBegin);
                    break;
                case '%' when TryRaw(afterBegin):
                    break;
                case '%':
                    _tokens.Add(new Token(TokenKind.BlockBegin, "{%", _line, Col(_pos)));
                    Advance(afterBegin);
                    LexTag(block: true);
                    break;
                default:
                    _tokens.Add(new Token(TokenKind.VarBegin, "{{", _line, Col(_pos)));
                    Advance(afterBegin);
                    LexTag(block: false);
                    break;
            }
        }
        _tokens.Add(new Token(TokenKind.Eof, "", _line, Col(_pos)));
    }

    private void Emit(TokenKind kind, string text) => _tokens.Add(new Token(kind, text, _line, Col(_pos)));

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            char c = _src[i + 1];
            if (c is '{' or '%' or '#')
                return i;
        }
        return -1;
    }

    private static string RStrip(string s)
    {
        int end = s.Length;
        while (end > 0 && IsSpace(s[end - 1]))
            end--;
        return s[..end];
    }

    private static bool AllSpace(string s, int from)
    {
        for (int i = from; i < s.Length; i++)
        {
            if (!IsSpace(s[i]))
                return false;
        }
        return true;
    }

    private int SkipSpace(int p)
    {
        while (p < _src.Length && IsSpace(_src[p]))
            p++;
        return p;
    }

    private void LexComment(int bodyStart)
    {
        int close = _src.IndexOf("#}", bodyStart, StringComparison.Ordinal);
        if (close < 0)
            throw Error("Missing end of comment tag");
        int end;
        if (close > bodyStart && _src[close - 1] == '-')
            end = SkipSpace(close + 2);
        else if (close > bodyStart && _src[close - 1] == '+')
            end = close + 2;
        else
            end = close + 2 < _src.Length && _src[close + 2] == '\n' ? close + 3 : close + 2;
        _lineStarting = _src[end - 1] == '\n';
        Advance(end);
    }

    // {% raw %} ... {% endraw %}: body is emitted as data verbatim.
    private bool TryRaw(int p)
    {
        int q = SkipSpace(p);
        if (string.CompareOrdinal(_src, q, "raw", 0, 3) != 0)
            return false;
        q += 3;
        int r = SkipSpace(q);
        if (r == q && !(r < _src.Length && _src[r] is '-' or '%'))
            return false;
        int bodyStart;
        if (string.CompareOrdinal(_src, r, "-%}", 0, 3) == 0)
            bodyStart = SkipSpace(r + 3);
        else if (string.CompareOrdinal(_src, r, "%}", 0, 2) == 0)
            bodyStart = r + 2;
        else
            return false;
        int search = bodyStart;
        while (true)
        {
            int open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0)
                throw Error("Missing end of raw directive");
            int a = open + 2;
            char sign = a < _src.Length && _src[a] is '-' or '+' ? _src[a] : '\0';
            if (sign != '\0')
                a++;
            a = SkipSpace(a);
            if (string.CompareOrdinal(_src, a, "endraw", 0, 6) != 0)
            {
                search = open + 2;
                continue;
            }
            a = SkipSpace(a + 6);
            int end;
            if (string.CompareOrdinal(_src, a, "+%}", 0, 3) == 0)
                end = a + 3;
            else if (string.CompareOrdinal(_src, a, "-%}", 0, 3) == 0)
                end = SkipSpace(a + 3);
            else if (string.CompareOrdinal(_src, a, "%}", 0, 2) == 0)
                end = a + 2 < _src.Length && _src[a + 2] == '\n' ? a + 3 : a + 2;
            else
            {
                search = open + 2;
                continue;
            }
            string body = _src[bodyStart..open];
            if (sign == '-')
                body = RStrip(body);
            else if (sign != '+')
            {
                int lpos = body.LastIndexOf('\n') + 1;
                if (lpos > 0 && lpos < body.Length && AllSpace(body, lpos))
                    body = body[..lpos];
            }
            Advance(bodyStart);
            if (body.Length > 0)
                Emit(TokenKind.Data, body);
            _lineStarting = _src[end - 1] == '\n';
            Advance(end);
            return true;
        }
    }

    private void LexTag(bool block)
    {
        var balance = new Stack<char>();
        while (true)
        {
            if (_pos >= _src.Length)
                throw Error(block ? "unexpected end of template, expected 'end of statement block'." : "unexpected end of template, expected 'end of print statement'.");
            if (balance.Count == 0 && TryTagEnd(block))
                return;
            char c = _src[_pos];
            if (IsSpace(c))
            {
                int e = SkipSpace(_pos);
                _lineStarting = _src[e - 1] == '\n';
                Advance(e);
                continue;
            }
            int line = _line, col = Col(_pos);
            if (char.IsAsciiDigit(c) && TryNumber(line, col))
                continue;
            if (char.IsLetter(c) || c == '_')
            {
                int e = _pos + 1;
                while (e < _src.Length && (char.IsLetterOrDigit(_src[e]) || _src[e] == '_'))
                    e++;
                _tokens.Add(new Token(TokenKind.Name, _src[_pos..e], line, col));
                Advance(e);
                continue;
            }
            if (c is '\'' or '"')
            {
                LexString(c, line, col);
                continue;
            }
            string? op = null;
            foreach (string candidate in Operators)
            {
                if (string.CompareOrdinal(_src, _pos, candidate, 0, candidate.Length) == 0)
                {
                    op = candidate;
                    break;
                }
            }
            if (op is null)
                throw Error($"unexpected char {Py.Repr(c.ToString())} at {_pos}");
            switch (op)
            {
                case "{": balance.Push('}'); break;
                case "(": balance.Push(')'); break;
                case "[": balance.Push(']'); break;
                case "}" or ")" or "]":
                    if (balance.Count == 0)
                        throw Error($"unexpected '{op}'");
                    char expected = balance.Pop();
                    if (expected != op[0])
                        throw Error($"unexpected '{op}', expected '{expected}'");
                    break;
            }
            _tokens.Add(new Token(TokenKind.Operator, op, line, col));
            Advance(_pos + op.Length);
        }
    }

    private bool TryTagEnd(bool block)
    {
        int line = _line, col = Col(_pos);
        int end;
        if (block)
        {
            if (string.CompareOrdinal(_src, _pos, "+%}", 0, 3) == 0)
                end = _pos + 3;
            else if (string.CompareOrdinal(_src, _pos, "-%}", 0, 3) == 0)
                end = SkipSpace(_pos + 3);
            else if (string.CompareOrdinal(_src, _pos, "%}", 0, 2) == 0)
                end = _pos + 2 < _src.Length && _src[_pos + 2] == '\n' ? _pos + 3 : _pos + 2;
            else
                return false;
        }
        else
        {
            if (string.CompareOrdinal(_src, _pos, "-}}", 0, 3) == 0)
                end = SkipSpace(_pos + 3);
            else if (string.CompareOrdinal(_src, _pos, "}}", 0, 2) == 0)
                end = _pos + 2;
            else
                return false;
        }
        _tokens.Add(new Token(block ? TokenKind.BlockEnd : TokenKind.VarEnd, block ? "%}" : "}}", line, col));
        _lineStarting = _src[end - 1] == '\n';
        Advance(end);
        return true;
    }

    private bool TryNumber(int line, int col)
    {
        int p = _pos;
        if (p > 0 && _src[p - 1] == '.')
        {
            // Jinja's float rule refuses to start after a dot (x.0.1); integers may.
            return TryInteger(line, col);
        }
        int digitsEnd = ScanDigits(p);
        int q = digitsEnd;
        bool isFloat = false;
        if (q < _src.Length && _src[q] == '.' && q + 1 < _src.Length && char.IsAsciiDigit(_src[q + 1]))
        {
            q = ScanDigits(q + 1);
            isFloat = true;
        }
        if (q < _src.Length && _src[q] is 'e' or 'E')
        {
            int r = q + 1;
            if (r < _src.Length && _src[r] is '+' or '-')
                r++;
            if (r < _src.Length && char.IsAsciiDigit(_src[r]))
            {
                q = ScanDigits(r);
                isFloat = true;
            }
        }
        if (!isFloat)
            return TryInteger(line, col);
        string text = _src[p..q];
        double v = double.Parse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture);
        _tokens.Add(new Token(TokenKind.Float, text, line, col, v));
        Advance(q);
        return true;
    }

    private int ScanDigits(int p)
    {
        while (p < _src.Length && char.IsAsciiDigit(_src[p]))
        {
            p++;
            if (p + 1 < _src.Length && _src[p] == '_' && char.IsAsciiDigit(_src[p + 1]))
                p++;
        }
        return p;
    }

    private bool TryInteger(int line, int col)
    {
        int p = _pos;
        int radix = 10;
        int start = p;
        if (_src[p] == '0' && p + 1 < _src.Length && _src[p + 1] is 'x' or 'X' or 'o' or 'O' or 'b' or 'B')
        {
            radix = _src[p + 1] is 'x' or 'X' ? 16 : _src[p + 1] is 'o' or 'O' ? 8 : 2;
            start = p + 2;
        }
        int q = start;
        while (q < _src.Length && (Uri.IsHexDigit(_src[q]) || _src[q] == '_') && DigitValue(_src[q]) < radix)
            q++;
        if (radix != 10 && q == start)
            return false;
        if (radix == 10 && _src[p] == '0')
        {
            q = p + 1;
            while (q < _src.Length && (_src[q] == '0' || _src[q] == '_'))
                q++;
        }
        string digits = _src[start..q].Replace("_", "", StringComparison.Ordinal);
        long value = 0;
        foreach (char d in digits)
        {
            try
            {
                value = checked(value * radix + DigitValue(d));
            }
            catch (OverflowException)
            {
                throw Error("integer literal too large");
            }
        }
        _tokens.Add(new Token(TokenKind.Integer, _src[p..q], line, col, value));
        Advance(q);
        return true;
    }

    private static int DigitValue(char c) => c == '_' ? 0 : c <= '9' ? c - '0' : (char.ToLowerInvariant(c) - 'a') + 10;

    private void LexString(char quote, int line, int col)
    {
        int p = _pos + 1;
        var sb = new StringBuilder();
        while (true)
        {
            if (p >= _src.Length)
                throw Error($"unexpected char {Py.Repr(quote.ToString())} at {_pos}");
            char c = _src[p];
            if (c == quote)
                break;
            if (c != '\\')
            {
                sb.Append(c);
                p++;
                continue;
            }
            if (p + 1 >= _src.Length)
                throw Error($"unexpected char {Py.Repr(quote.ToString())} at {_pos}");
            char e = _src[p + 1];
            p += 2;
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case 'x': p = AppendHex(sb, p, 2); break;
                case 'u': p = AppendHex(sb, p, 4); break;
                case 'U': p = AppendHex(sb, p, 8); break;
                case >= '0' and <= '7':
                {
                    int v = e - '0';
                    for (int k = 0; k < 2 && p < _src.Length && _src[p] is >= '0' and <= '7'; k++, p++)
                        v = v * 8 + (_src[p] - '0');
                    sb.Append((char)v);
                    break;
                }
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }
        _tokens.Add(new Token(TokenKind.String, _src[_pos..(p + 1)], line, col, sb.ToString()));
        Advance(p + 1);
    }

    private int AppendHex(StringBuilder sb, int p, int n)
    {
        if (p + n > _src.Length || !int.TryParse(_src.AsSpan(p, n), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp)
            || cp > 0x10FFFF)
            throw Error("truncated escape sequence in string literal");
        sb.Append(char.ConvertFromUtf32(cp is >= 0xD800 and <= 0xDFFF ? 0xFFFD : cp));
        return p + n;
    }
}
