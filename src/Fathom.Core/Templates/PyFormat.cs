using System.Globalization;
using System.Text;

namespace Fathom.Templates;

/// <summary>Python's printf-style `%` formatting and `str.format`, for the conversions templates use.</summary>
internal static class PyFormat
{
    public static string Percent(string fmt, object? args)
    {
        IReadOnlyList<object?> values = args is PyList { IsTuple: true } t ? t.Items : [args];
        PyDict? mapping = args as PyDict;
        var sb = new StringBuilder();
        int next = 0;
        int i = 0;
        while (i < fmt.Length)
        {
            char c = fmt[i++];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (i >= fmt.Length)
                throw new PyException("ValueError: incomplete format");
            object? value;
            bool fromMap = false;
            string? key = null;
            if (fmt[i] == '(')
            {
                int close = fmt.IndexOf(')', i);
                if (close < 0)
                    throw new PyException("ValueError: incomplete format key");
                key = fmt[(i + 1)..close];
                i = close + 1;
                fromMap = true;
            }
            string flags = "";
            while (i < fmt.Length && fmt[i] is '-' or '+' or ' ' or '#' or '0')
                flags += fmt[i++];
            int width = -1, precision = -1;
            if (i < fmt.Length && fmt[i] == '*')
            {
                width = (int)Py.AsLong(values[next++]);
                i++;
            }
            else
                width = ReadInt(fmt, ref i, -1);
            if (i < fmt.Length && fmt[i] == '.')
            {
                i++;
                if (i < fmt.Length && fmt[i] == '*')
                {
                    precision = (int)Py.AsLong(values[next++]);
                    i++;
                }
                else
                    precision = ReadInt(fmt, ref i, 0);
            }
            while (i < fmt.Length && fmt[i] is 'h' or 'l' or 'L')
                i++;
            if (i >= fmt.Length)
                throw new PyException("ValueError: incomplete format");
            char conv = fmt[i++];
            if (conv == '%')
            {
                sb.Append('%');
                continue;
            }
            if (fromMap)
            {
                if (mapping is null)
                    throw new PyException("TypeError: format requires a mapping");
                if (!mapping.TryGet(key, out value))
                    throw new PyException($"KeyError: {Py.Repr(key)}");
            }
            else
            {
                if (next >= values.Count)
                    throw new PyException("TypeError: not enough arguments for format string");
                value = values[next++];
            }
            string body = conv switch
            {
                's' => Py.Str(value),
                'r' or 'a' => Py.Repr(value),
                'd' or 'i' or 'u' => FormatInt(ToInteger(value), flags),
                'x' or 'X' or 'o' => Radix(ToInteger(value), conv, flags.Contains('#', StringComparison.Ordinal)),
                'f' or 'F' or 'e' or 'E' or 'g' or 'G' => FormatFloat(Py.ToDouble(value), conv, precision < 0 ? 6 : precision, flags),
                'c' => value is string s ? s : char.ConvertFromUtf32((int)Py.AsLong(value)),
                _ => throw new PyException($"ValueError: unsupported format character '{conv}'"),
            };
            if (conv is 's' or 'r' or 'a' && precision >= 0 && body.Length > precision)
                body = body[..precision];
            sb.Append(Pad(body, width, flags.Contains('-', StringComparison.Ordinal) ? '<' : '>', flags.Contains('0', StringComparison.Ordinal) && conv is not ('s' or 'r' or 'a' or 'c') ? '0' : ' '));
        }
        // Python skips this check when the argument supports item access (dict, list), not for tuples or strings.
        if (next < values.Count && args is not (PyDict or PyList { IsTuple: false } or Undefined))
            throw new PyException("TypeError: not all arguments converted during string formatting");
        return sb.ToString();
    }

    private static long ToInteger(object? v) => v switch
    {
        double d => (long)Math.Truncate(d),
        _ when Py.IsInt(v) => Py.AsLong(v),
        _ => throw new PyException($"TypeError: %d format: a real number is required, not {Py.TypeName(v)}"),
    };

    private static string FormatInt(long v, string flags)
    {
        string s = v.ToString(CultureInfo.InvariantCulture);
        if (v >= 0 && flags.Contains('+', StringComparison.Ordinal))
            return "+" + s;
        if (v >= 0 && flags.Contains(' ', StringComparison.Ordinal))
            return " " + s;
        return s;
    }

    private static string Radix(long v, char conv, bool alt)
    {
        string digits = conv == 'o' ? Convert.ToString(Math.Abs(v), 8) : Math.Abs(v).ToString(conv == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
        string prefix = alt ? (conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X") : "";
        return (v < 0 ? "-" : "") + prefix + digits;
    }

    private static int ReadInt(string s, ref int i, int fallback)
    {
        int start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
            i++;
        return i > start ? int.Parse(s.AsSpan(start, i - start), CultureInfo.InvariantCulture) : fallback;
    }

    private static string Pad(string s, int width, char align, char fill)
    {
        int len = PyStr.Length(s);
        if (width <= len)
            return s;
        int pad = width - len;
        if (fill == '0' && align != '<' && s.Length > 0 && s[0] is '-' or '+' or ' ')
            return s[0] + new string('0', pad) + s[1..];
        return align switch
        {
            '<' => s + new string(fill, pad),
            '^' => new string(fill, pad / 2) + s + new string(fill, pad - pad / 2),
            _ => new string(fill, pad) + s,
        };
    }

    public static string FormatFloat(double d, char conv, int precision, string flags)
    {
        string s;
        if (double.IsNaN(d) || double.IsInfinity(d))
            s = double.IsNaN(d) ? "nan" : d > 0 ? "inf" : "-inf";
        else
        {
            switch (char.ToLowerInvariant(conv))
            {
                case 'f':
                    s = d.ToString("F" + precision, CultureInfo.InvariantCulture);
                    break;
                case 'e':
                    s = ExpForm(d, precision);
                    break;
                default:
                {
                    int p = precision == 0 ? 1 : precision;
                    if (d == 0)
                    {
                        s = "0";
                        break;
                    }
                    int exp = (int)Math.Floor(Math.Log10(Math.Abs(double.Parse(d.ToString("E" + (p - 1), CultureInfo.InvariantCulture), CultureInfo.InvariantCulture))));
                    if (exp < -4 || exp >= p)
                    {
                        s = ExpForm(d, p - 1);
                        int e = s.IndexOf('e', StringComparison.Ordinal);
                        string mant = s[..e];
                        if (!flags.Contains('#', StringComparison.Ordinal) && mant.Contains('.', StringComparison.Ordinal))
                            mant = mant.TrimEnd('0').TrimEnd('.');
                        s = mant + s[e..];
                    }
                    else
                    {
                        s = d.ToString("F" + Math.Max(0, p - 1 - exp), CultureInfo.InvariantCulture);
                        if (!flags.Contains('#', StringComparison.Ordinal) && s.Contains('.', StringComparison.Ordinal))
                            s = s.TrimEnd('0').TrimEnd('.');
                    }
                    break;
                }
            }
            if (char.IsUpper(conv))
                s = s.ToUpperInvariant();
        }
        if (!s.StartsWith('-') && flags.Contains('+', StringComparison.Ordinal))
            s = "+" + s;
        else if (!s.StartsWith('-') && flags.Contains(' ', StringComparison.Ordinal))
            s = " " + s;
        return s;
    }

    private static string ExpForm(double d, int precision)
    {
        string s = d.ToString((precision == 0 ? "0" : "0." + new string('0', precision)) + "e+00", CultureInfo.InvariantCulture);
        return s;
    }

    /// <summary>str.format: `{}`, `{0}`, `{name}`, `{x.attr}`/`{x[key]}`, `!r`/`!s`, and a format spec.</summary>
    public static string Format(Evaluator ev, string fmt, ArgReader a)
    {
        var sb = new StringBuilder();
        int auto = 0;
        int i = 0;
        while (i < fmt.Length)
        {
            char c = fmt[i];
            if (c == '{' && i + 1 < fmt.Length && fmt[i + 1] == '{')
            {
                sb.Append('{');
                i += 2;
                continue;
            }
            if (c == '}' && i + 1 < fmt.Length && fmt[i + 1] == '}')
            {
                sb.Append('}');
                i += 2;
                continue;
            }
            if (c == '}')
                throw new PyException("ValueError: Single '}' encountered in format string");
            if (c != '{')
            {
                sb.Append(c);
                i++;
                continue;
            }
            int depth = 1, j = i + 1;
            while (j < fmt.Length && depth > 0)
            {
                if (fmt[j] == '{') depth++;
                else if (fmt[j] == '}') depth--;
                if (depth > 0) j++;
            }
            if (j >= fmt.Length)
                throw new PyException("ValueError: expected '}' before end of string");
            string field = fmt[(i + 1)..j];
            i = j + 1;
            string spec = "";
            char conv = '\0';
            int colon = field.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                spec = field[(colon + 1)..];
                field = field[..colon];
            }
            int bang = field.IndexOf('!', StringComparison.Ordinal);
            if (bang >= 0)
            {
                conv = bang + 1 < field.Length ? field[bang + 1] : '\0';
                field = field[..bang];
            }
            int end = 0;
            while (end < field.Length && field[end] is not ('.' or '['))
                end++;
            string head = field[..end];
            object? value;
            if (head.Length == 0)
                value = a.Required(auto++, "<positional>");
            else if (char.IsAsciiDigit(head[0]))
                value = a.Required(int.Parse(head, CultureInfo.InvariantCulture), head);
            else if (!a.TryGet(-1, head, out value))
                throw new PyException($"KeyError: '{head}'");
            string rest = field[end..];
            while (rest.Length > 0)
            {
                if (rest[0] == '.')
                {
                    int k = 1;
                    while (k < rest.Length && rest[k] is not ('.' or '['))
                        k++;
                    value = ev.GetAttr(value, rest[1..k]);
                    rest = rest[k..];
                }
                else
                {
                    int close = rest.IndexOf(']', StringComparison.Ordinal);
                    if (close < 0)
                        throw new PyException("ValueError: Missing ']' in format string");
                    string key = rest[1..close];
                    value = ev.GetItem(value, long.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : key);
                    rest = rest[(close + 1)..];
                }
            }
            if (value is Undefined u)
                throw u.Fail();
            if (spec.Contains('{', StringComparison.Ordinal))
                spec = Format(ev, spec, a);
            object? shown = conv switch
            {
                'r' or 'a' => Py.Repr(value),
                's' => Py.Str(value),
                _ => value,
            };
            sb.Append(ApplySpec(shown, spec));
            ev.CheckSize(sb.Length);
        }
        return sb.ToString();
    }

    private static string ApplySpec(object? value, string spec)
    {
        if (spec.Length == 0)
            return Py.Str(value);
        int i = 0;
        char fill = ' ', align = '\0';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=')
        {
            fill = spec[0];
            align = spec[1];
            i = 2;
        }
        else if (spec[0] is '<' or '>' or '^' or '=')
        {
            align = spec[0];
            i = 1;
        }
        string flags = "";
        if (i < spec.Length && spec[i] is '+' or '-' or ' ')
            flags += spec[i++];
        if (i < spec.Length && spec[i] == '#')
            flags += spec[i++];
        if (i < spec.Length && spec[i] == '0')
        {
            if (align == '\0')
            {
                fill = '0';
                align = '=';
            }
            i++;
        }
        int width = ReadInt(spec, ref i, -1);
        bool comma = false;
        if (i < spec.Length && spec[i] is ',' or '_')
        {
            comma = true;
            i++;
        }
        int precision = -1;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            precision = ReadInt(spec, ref i, 0);
        }
        char type = i < spec.Length ? spec[i] : '\0';
        string body;
        bool numeric = value is long or double or bool && type is not 's';
        switch (type)
        {
            case 'd' or 'n':
                body = FormatInt(Py.AsLong(value), flags);
                break;
            case 'x' or 'X' or 'o' or 'b':
                body = type == 'b' ? Convert.ToString(Py.AsLong(value), 2) : Radix(Py.AsLong(value), type, flags.Contains('#', StringComparison.Ordinal));
                break;
            case 'f' or 'F' or 'e' or 'E' or 'g' or 'G':
                body = FormatFloat(Py.ToDouble(value), type, precision < 0 ? 6 : precision, flags);
                break;
            case '%':
                body = FormatFloat(Py.ToDouble(value) * 100, 'f', precision < 0 ? 6 : precision, flags) + "%";
                break;
            default:
                if (value is double dv && precision >= 0)
                    body = FormatFloat(dv, 'g', precision, flags);
                else
                {
                    body = Py.Str(value);
                    if (precision >= 0 && value is string && body.Length > precision)
                        body = body[..precision];
                    if (numeric && !body.StartsWith('-') && flags.Contains('+', StringComparison.Ordinal))
                        body = "+" + body;
                }
                break;
        }
        if (comma && numeric)
        {
            int dot = body.IndexOf('.', StringComparison.Ordinal);
            string intPart = dot >= 0 ? body[..dot] : body;
            string frac = dot >= 0 ? body[dot..] : "";
            bool neg = intPart.StartsWith('-');
            string digits = neg ? intPart[1..] : intPart;
            var grouped = new StringBuilder();
            for (int k = 0; k < digits.Length; k++)
            {
                if (k > 0 && (digits.Length - k) % 3 == 0)
                    grouped.Append(',');
                grouped.Append(digits[k]);
            }
            body = (neg ? "-" : "") + grouped + frac;
        }
        if (align == '\0')
            align = numeric ? '>' : '<';
        int len = PyStr.Length(body);
        if (width <= len)
            return body;
        int pad = width - len;
        return align switch
        {
            '<' => body + new string(fill, pad),
            '^' => new string(fill, pad / 2) + body + new string(fill, pad - pad / 2),
            '=' when body.Length > 0 && body[0] is '-' or '+' or ' ' => body[0] + new string(fill, pad) + body[1..],
            _ => new string(fill, pad) + body,
        };
    }
}
