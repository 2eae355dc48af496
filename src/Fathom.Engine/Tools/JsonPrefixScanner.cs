using System.Text;

namespace Fathom.Tools;

/// <summary>What one character did to a <see cref="JsonPrefixScanner"/>.</summary>
internal enum JsonStep
{
    /// <summary>Accepted; the value is still open.</summary>
    More,

    /// <summary>Accepted, and it closed the value.</summary>
    Complete,

    /// <summary>Not accepted: the value had already ended before this character (a bare number or literal).</summary>
    EndedBefore,

    /// <summary>Not accepted: no JSON value continues this way.</summary>
    Invalid,
}

/// <summary>
/// Checks one JSON value a character at a time, so a streamed tool call can forward exactly the prefix that is still
/// valid JSON, and can close a truncated value with <see cref="RepairSuffix"/>. Accepts RFC 8259 JSON only.
/// </summary>
internal sealed class JsonPrefixScanner
{
    private enum Ctx : byte { ObjectKeyOrEnd, ObjectKey, ObjectColon, ObjectValue, ObjectCommaOrEnd, ArrayValueOrEnd, ArrayValue, ArrayCommaOrEnd }

    private enum Token : byte { None, String, Number, Literal }

    private const int MaxDepth = 256;
    private readonly List<Ctx> _stack = [];
    private Token _token;
    private bool _stringIsKey;
    private bool _escape;
    private int _hexLeft;
    private int _numberState;
    private string _literal = "";
    private int _literalPos;
    private bool _started;
    private bool _done;

    public bool IsComplete => _done;

    /// <summary>Feeds one character.</summary>
    public JsonStep Push(char c)
    {
        if (_done)
            return JsonStep.EndedBefore;
        switch (_token)
        {
            case Token.String:
                return PushString(c);
            case Token.Literal:
                if (c != _literal[_literalPos])
                    return JsonStep.Invalid;
                if (++_literalPos < _literal.Length)
                    return JsonStep.More;
                _token = Token.None;
                return ValueEnded();
            case Token.Number:
                if (NumberNext(_numberState, c) is int next and >= 0)
                {
                    _numberState = next;
                    return JsonStep.More;
                }
                if (!NumberCanEnd(_numberState))
                    return JsonStep.Invalid;
                _token = Token.None;
                if (ValueEnded() == JsonStep.Complete)
                    return JsonStep.EndedBefore;
                return Push(c);
        }
        if (c is ' ' or '\t' or '\n' or '\r')
            return JsonStep.More;
        if (_stack.Count == 0)
        {
            if (_started)
                return JsonStep.Invalid;
            _started = true;
            return BeginValue(c);
        }
        Ctx top = _stack[^1];
        switch (top)
        {
            case Ctx.ObjectKeyOrEnd or Ctx.ObjectKey:
                if (c == '}' && top == Ctx.ObjectKeyOrEnd)
                {
                    _stack.RemoveAt(_stack.Count - 1);
                    return ValueEnded();
                }
                if (c != '"')
                    return JsonStep.Invalid;
                _stack[^1] = Ctx.ObjectColon;
                _token = Token.String;
                _stringIsKey = true;
                return JsonStep.More;
            case Ctx.ObjectColon:
                if (c != ':')
                    return JsonStep.Invalid;
                _stack[^1] = Ctx.ObjectValue;
                return JsonStep.More;
            case Ctx.ObjectValue:
                _stack[^1] = Ctx.ObjectCommaOrEnd;
                return BeginValue(c);
            case Ctx.ObjectCommaOrEnd:
                if (c == ',')
                {
                    _stack[^1] = Ctx.ObjectKey;
                    return JsonStep.More;
                }
                if (c != '}')
                    return JsonStep.Invalid;
                _stack.RemoveAt(_stack.Count - 1);
                return ValueEnded();
            case Ctx.ArrayValueOrEnd or Ctx.ArrayValue:
                if (c == ']' && top == Ctx.ArrayValueOrEnd)
                {
                    _stack.RemoveAt(_stack.Count - 1);
                    return ValueEnded();
                }
                _stack[^1] = Ctx.ArrayCommaOrEnd;
                return BeginValue(c);
            default:
                if (c == ',')
                {
                    _stack[^1] = Ctx.ArrayValue;
                    return JsonStep.More;
                }
                if (c != ']')
                    return JsonStep.Invalid;
                _stack.RemoveAt(_stack.Count - 1);
                return ValueEnded();
        }
    }

    /// <summary>Call when the text ended: a bare number at the top level completes here.</summary>
    public bool TryFinish()
    {
        if (_done)
            return true;
        if (_token == Token.Number && _stack.Count == 0 && NumberCanEnd(_numberState))
        {
            _token = Token.None;
            _done = true;
        }
        return _done;
    }

    /// <summary>Text that, appended to what was accepted so far, makes a complete JSON value.</summary>
    public string RepairSuffix()
    {
        if (_done)
            return "";
        if (!_started)
            return "{}";
        var sb = new StringBuilder();
        switch (_token)
        {
            case Token.String:
                if (_hexLeft > 0)
                    sb.Append('0', _hexLeft);
                else if (_escape)
                    sb.Append('n');
                sb.Append('"');
                break;
            case Token.Number:
                if (!NumberCanEnd(_numberState))
                    sb.Append('0');
                break;
            case Token.Literal:
                sb.Append(_literal, _literalPos, _literal.Length - _literalPos);
                break;
        }
        for (int i = _stack.Count - 1; i >= 0; i--)
        {
            sb.Append(_stack[i] switch
            {
                Ctx.ObjectColon => ":null}",
                Ctx.ObjectValue => "null}",
                Ctx.ObjectKey => "\"\":null}",
                Ctx.ObjectKeyOrEnd or Ctx.ObjectCommaOrEnd => "}",
                Ctx.ArrayValue => "null]",
                _ => "]",
            });
        }
        return sb.ToString();
    }

    private JsonStep BeginValue(char c)
    {
        switch (c)
        {
            case '{':
                if (_stack.Count >= MaxDepth)
                    return JsonStep.Invalid;
                _stack.Add(Ctx.ObjectKeyOrEnd);
                return JsonStep.More;
            case '[':
                if (_stack.Count >= MaxDepth)
                    return JsonStep.Invalid;
                _stack.Add(Ctx.ArrayValueOrEnd);
                return JsonStep.More;
            case '"':
                _token = Token.String;
                _stringIsKey = false;
                return JsonStep.More;
            case 't' or 'f' or 'n':
                _token = Token.Literal;
                _literal = c == 't' ? "true" : c == 'f' ? "false" : "null";
                _literalPos = 1;
                return JsonStep.More;
            default:
                if (NumberNext(0, c) is int s and >= 0)
                {
                    _token = Token.Number;
                    _numberState = s;
                    return JsonStep.More;
                }
                return JsonStep.Invalid;
        }
    }

    private JsonStep PushString(char c)
    {
        if (_hexLeft > 0)
        {
            if (!char.IsAsciiHexDigit(c))
                return JsonStep.Invalid;
            _hexLeft--;
            return JsonStep.More;
        }
        if (_escape)
        {
            _escape = false;
            if (c == 'u')
            {
                _hexLeft = 4;
                return JsonStep.More;
            }
            return c is '"' or '\\' or '/' or 'b' or 'f' or 'n' or 'r' or 't' ? JsonStep.More : JsonStep.Invalid;
        }
        if (c == '\\')
        {
            _escape = true;
            return JsonStep.More;
        }
        if (c < ' ')
            return JsonStep.Invalid;
        if (c != '"')
            return JsonStep.More;
        _token = Token.None;
        return _stringIsKey ? JsonStep.More : ValueEnded();
    }

    private JsonStep ValueEnded()
    {
        if (_stack.Count > 0)
            return JsonStep.More;
        _done = true;
        return JsonStep.Complete;
    }

    // Number states: 0 start, 1 after '-', 2 after leading '0', 3 int digits, 4 after '.', 5 frac digits, 6 after 'e', 7 after exponent sign, 8 exponent digits.
    private static int NumberNext(int state, char c) => state switch
    {
        0 => c == '-' ? 1 : c == '0' ? 2 : c is >= '1' and <= '9' ? 3 : -1,
        1 => c == '0' ? 2 : c is >= '1' and <= '9' ? 3 : -1,
        2 => c == '.' ? 4 : c is 'e' or 'E' ? 6 : -1,
        3 => char.IsAsciiDigit(c) ? 3 : c == '.' ? 4 : c is 'e' or 'E' ? 6 : -1,
        4 => char.IsAsciiDigit(c) ? 5 : -1,
        5 => char.IsAsciiDigit(c) ? 5 : c is 'e' or 'E' ? 6 : -1,
        6 => c is '+' or '-' ? 7 : char.IsAsciiDigit(c) ? 8 : -1,
        7 => char.IsAsciiDigit(c) ? 8 : -1,
        8 => char.IsAsciiDigit(c) ? 8 : -1,
        _ => -1,
    };

    private static bool NumberCanEnd(int state) => state is 2 or 3 or 5 or 8;
}
