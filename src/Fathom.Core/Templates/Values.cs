using System.Globalization;
using System.Numerics;
using System.Text;

namespace Fathom.Templates;

/// <summary>A Python-side error raised while rendering (TypeError, UndefinedError, SecurityError...); the evaluator adds the position.</summary>
internal class PyException(string message) : Exception(message);

/// <summary>Jinja2's default Undefined: prints empty, is falsy, iterates empty; most other uses raise.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Instance = new(null, null, false);

    public Undefined(string? hint, string? name, bool unsafeAccess)
    {
        Hint = hint;
        Name = name;
        IsUnsafe = unsafeAccess;
    }

    public string? Hint { get; }
    public string? Name { get; }
    public bool IsUnsafe { get; }

    public static Undefined Missing(string name) => new($"'{name}' is undefined", name, false);

    public static Undefined NoAttribute(object? obj, string attr) =>
        new($"{Py.TypeDescription(obj)} has no attribute '{attr}'", attr, false);

    public static Undefined NoItem(object? obj, object? key) =>
        new($"{Py.TypeDescription(obj)} has no element {Py.Repr(key)}", key as string, false);

    public PyException Fail() => new(IsUnsafe ? $"SecurityError: {Hint}" : $"UndefinedError: {Hint ?? "value is undefined"}");
}

/// <summary>markupsafe.Markup: a string marked safe (`|safe`, `|e`); `+` and `%` with it HTML-escape the other operand.</summary>
internal sealed class Markup(string value)
{
    public string Value { get; } = value;

    public static string Escape(string s)
    {
        if (s.AsSpan().IndexOfAny("&<>'\"") < 0)
            return s;
        var sb = new StringBuilder(s.Length + 16);
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&#34;",
                '\'' => "&#39;",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }

    /// <summary>markupsafe.escape: Markup passes through, anything else is str()-ed and escaped.</summary>
    public static Markup Of(object? v) => v as Markup ?? new Markup(Escape(Py.Str(v)));
}

/// <summary>A Python list (or tuple when <see cref="IsTuple"/>).</summary>
internal sealed class PyList(List<object?> items, bool isTuple = false)
{
    public PyList() : this([]) { }

    public List<object?> Items { get; } = items;
    public bool IsTuple { get; } = isTuple;
    public int Count => Items.Count;
    public object? this[int i] => Items[i];

    public static PyList Tuple(params object?[] items) => new([.. items], true);
}

/// <summary>A one-shot Python iterator (what Jinja's map/select/unique/... filters return): truthy, no len, consumed by iteration.</summary>
internal sealed class PyIterator(IEnumerable<object?> source, string kind = "generator")
{
    private IEnumerator<object?>? _it = source.GetEnumerator();

    public string Kind { get; } = kind;

    public bool MoveNext(out object? value)
    {
        if (_it is not null && _it.MoveNext())
        {
            value = _it.Current;
            return true;
        }
        _it?.Dispose();
        _it = null;
        value = null;
        return false;
    }

    public List<object?> Drain()
    {
        var items = new List<object?>();
        while (MoveNext(out object? v))
            items.Add(v);
        return items;
    }
}

/// <summary>A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).</summary>
internal sealed class PyDict
{
    public PyDict() => Map = new OrderedDictionary<object, object?>(PyKeyComparer.Instance);

    public OrderedDictionary<object, object?> Map { get; }
    public int Count => Map.Count;

    public static object Key(object? k) => k is Markup m ? m.Value : k ?? NoneKey.Instance;
    public static object? Unkey(object k) => k is NoneKey ? null : k;

    public void Set(object? key, object? value) => Map[Key(key)] = value;
    public bool TryGet(object? key, out object? value) => Map.TryGetValue(Key(key), out value);
    public bool ContainsKey(object? key) => Map.ContainsKey(Key(key));

    public IEnumerable<object?> Keys => Map.Keys.Select(Unkey);

    internal sealed class NoneKey
    {
        public static readonly NoneKey Instance = new();
    }
}

internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => Py.Eq(PyDict.Unkey(x!), PyDict.Unkey(y!));

    public int GetHashCode(object obj) => obj switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        PyList l when l.IsTuple => System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack()
            ? l.Items.Aggregate(17, (h, v) => h * 31 + GetHashCode(PyDict.Key(v)))
            : throw new PyException("RecursionError: maximum recursion depth exceeded while hashing"),
        PyList or PyDict => throw new PyException($"TypeError: unhashable type: '{Py.TypeName(obj)}'"),
        _ => obj.GetHashCode(),
    };
}

/// <summary>The object `namespace(...)` returns: the one thing templates may assign attributes on.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attrs { get; } = new(StringComparer.Ordinal);
}

/// <summary>Anything callable from a template: globals, bound methods, macros, loop(), caller().</summary>
internal abstract class PyCallable
{
    public abstract string Name { get; }
    public abstract object? Call(Evaluator ev, List<object?> args, List<KeyValuePair<string, object?>> kwargs);
}

internal sealed class BuiltinFunction(string name, Func<Evaluator, List<object?>, List<KeyValuePair<string, object?>>, object?> body) : PyCallable
{
    public override string Name { get; } = name;
    public override object? Call(Evaluator ev, List<object?> args, List<KeyValuePair<string, object?>> kwargs) => body(ev, args, kwargs);
}

/// <summary>A Python method bound to its receiver (`s.strip`, `d.items`).</summary>
internal sealed class BoundMethod(object? self, string name) : PyCallable
{
    public object? Self { get; } = self;
    public override string Name { get; } = name;
    public override object? Call(Evaluator ev, List<object?> args, List<KeyValuePair<string, object?>> kwargs) =>
        Methods.Invoke(ev, Self, Name, args, kwargs);
}

/// <summary>Python's value semantics: str(), repr(), truthiness, equality and ordering.</summary>
internal static class Py
{
    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        Markup => "Markup",
        PyList l => l.IsTuple ? "tuple" : "list",
        PyDict => "dict",
        Undefined => "Undefined",
        PyIterator it => it.Kind,
        Namespace => "Namespace",
        Macro => "Macro",
        LoopContext => "LoopContext",
        PyCallable => "builtin_function_or_method",
        _ => v.GetType().Name,
    };

    public static string TypeDescription(object? v) => v is null ? "None" : $"'{TypeName(v)} object'";

    public static object? Plain(object? v) => v is Markup m ? m.Value : v;

    public static bool Truthy(object? v) => v switch
    {
        Markup m => m.Value.Length != 0,
        null => false,
        bool b => b,
        long l => l != 0,
        BigInteger b => !b.IsZero,
        double d => d != 0,
        string s => s.Length != 0,
        PyList l => l.Count != 0,
        PyDict d => d.Count != 0,
        Undefined => false,
        _ => true,
    };

    public static string Str(object? v) => v switch
    {
        string s => s,
        Markup m => m.Value,
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger b => b.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 100)
            throw new PyException("RecursionError: maximum recursion depth exceeded while getting the repr of an object");
        switch (v)
        {
            case Markup mk:
                sb.Append("Markup(");
                AppendStringRepr(sb, mk.Value);
                sb.Append(')');
                break;
            case string s:
                AppendStringRepr(sb, s);
                break;
            case PyList l:
                sb.Append(l.IsTuple ? '(' : '[');
                for (int i = 0; i < l.Count; i++)
                {
                    if (i > 0)
                        sb.Append(", ");
                    AppendRepr(sb, l[i], depth + 1);
                }
                if (l.IsTuple && l.Count == 1)
                    sb.Append(',');
                sb.Append(l.IsTuple ? ')' : ']');
                break;
            case PyDict d:
                sb.Append('{');
                bool first = true;
                foreach (var kv in d.Map)
                {
                    if (!first)
                        sb.Append(", ");
                    first = false;
                    AppendRepr(sb, PyDict.Unkey(kv.Key), depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, kv.Value, depth + 1);
                }
                sb.Append('}');
                break;
            case PyIterator it:
                sb.Append('<').Append(it.Kind).Append(" object>");
                break;
            case Namespace ns:
                sb.Append("<Namespace {");
                bool f = true;
                foreach (var kv in ns.Attrs)
                {
                    if (!f)
                        sb.Append(", ");
                    f = false;
                    AppendStringRepr(sb, kv.Key);
                    sb.Append(": ");
                    AppendRepr(sb, kv.Value, depth + 1);
                }
                sb.Append("}>");
                break;
            case Undefined:
                sb.Append("Undefined");
                break;
            case Macro m:
                sb.Append("<Macro '").Append(m.Name).Append("'>");
                break;
            case LoopContext:
                sb.Append("<LoopContext>");
                break;
            case PyCallable c:
                sb.Append("<built-in method ").Append(c.Name).Append('>');
                break;
            default:
                sb.Append(Str(v));
                break;
        }
    }

    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        sb.Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == quote || c == '\\')
                sb.Append('\\').Append(c);
            else if (c == '\n')
                sb.Append("\\n");
            else if (c == '\r')
                sb.Append("\\r");
            else if (c == '\t')
                sb.Append("\\t");
            else if (c < 0x20 || c == 0x7f)
                sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            else if (c < 0x7f)
                sb.Append(c);
            else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, s[i + 1]);
                if (IsPrintable(CharUnicodeInfo.GetUnicodeCategory(cp)))
                    sb.Append(c).Append(s[i + 1]);
                else
                    sb.Append("\\U").Append(cp.ToString("x8", CultureInfo.InvariantCulture));
                i++;
            }
            else if (char.IsSurrogate(c) || !IsPrintable(CharUnicodeInfo.GetUnicodeCategory(c)))
                sb.Append(c <= 0xff ? "\\x" + ((int)c).ToString("x2", CultureInfo.InvariantCulture) : "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else
                sb.Append(c);
        }
        sb.Append(quote);
    }

    private static bool IsPrintable(UnicodeCategory cat) => cat is not (UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);

    /// <summary>Python's repr(float): shortest round-trip digits, exponent form outside [1e-4, 1e16).</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
            return "nan";
        if (double.IsInfinity(d))
            return d > 0 ? "inf" : "-inf";
        if (d == 0)
            return double.IsNegative(d) ? "-0.0" : "0.0";
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        // Extract digits and decimal exponent from the shortest round-trip form.
        bool neg = shortest.StartsWith('-');
        string body = neg ? shortest[1..] : shortest;
        int exp = 0;
        int ePos = body.IndexOfAny(['E', 'e']);
        if (ePos >= 0)
        {
            exp = int.Parse(body[(ePos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            body = body[..ePos];
        }
        int dot = body.IndexOf('.', StringComparison.Ordinal);
        string intPart = dot >= 0 ? body[..dot] : body;
        string frac = dot >= 0 ? body[(dot + 1)..] : "";
        string digits = (intPart + frac).TrimStart('0');
        int leadingZeros = (intPart + frac).Length - digits.Length;
        int pointPos = intPart.Length + exp - leadingZeros; // digits[0] is at 10^(pointPos-1)
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
            digits = "0";
        int decExp = pointPos - 1;
        var sb = new StringBuilder();
        if (neg)
            sb.Append('-');
        if (decExp < -4 || decExp >= 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1)
                sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(decExp < 0 ? '-' : '+').Append(Math.Abs(decExp).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (pointPos <= 0)
        {
            sb.Append("0.").Append('0', -pointPos).Append(digits);
        }
        else if (pointPos >= digits.Length)
        {
            sb.Append(digits).Append('0', pointPos - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, pointPos).Append('.').Append(digits, pointPos, digits.Length - pointPos);
        }
        return sb.ToString();
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new PyException($"TypeError: expected a number, got {TypeName(v)}"),
    };

    public static bool Eq(object? a, object? b)
    {
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new PyException("RecursionError: maximum recursion depth exceeded in comparison");
        a = Plain(a);
        b = Plain(b);
        switch (a)
        {
            case null: return b is null;
            case string s: return b is string t && s == t;
            case bool or long or double when IsNumber(b):
                if (a is double || b is double)
                    return ToDouble(a) == ToDouble(b);
                return AsLong(a) == AsLong(b);
            case PyList l:
                if (b is not PyList m || l.IsTuple != m.IsTuple || l.Count != m.Count)
                    return false;
                for (int i = 0; i < l.Count; i++)
                {
                    if (!Eq(l[i], m[i]))
                        return false;
                }
                return true;
            case PyDict d:
                if (b is not PyDict e || d.Count != e.Count)
                    return false;
                foreach (var kv in d.Map)
                {
                    if (!e.Map.TryGetValue(kv.Key, out object? other) || !Eq(kv.Value, other))
                        return false;
                }
                return true;
            case Undefined: return b is Undefined;
            case BigInteger x: return b is BigInteger y && x == y;
            default: return ReferenceEquals(a, b);
        }
    }

    public static long AsLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new PyException($"TypeError: '{TypeName(v)}' object cannot be interpreted as an integer"),
    };

    public static bool IsInt(object? v) => v is long or bool;

    /// <summary>Python ordering: numbers with numbers, strings with strings, sequences lexicographically.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new PyException("RecursionError: maximum recursion depth exceeded in comparison");
        a = Plain(a);
        b = Plain(b);
        if (a is Undefined u)
            throw u.Fail();
        if (b is Undefined u2)
            throw u2.Fail();
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double)
            {
                double x = ToDouble(a), y = ToDouble(b);
                return x < y ? -1 : x > y ? 1 : 0;
            }
            return AsLong(a).CompareTo(AsLong(b));
        }
        if (a is string s && b is string t)
            return Math.Sign(string.CompareOrdinal(s, t));
        if (a is PyList l && b is PyList m && l.IsTuple == m.IsTuple)
        {
            for (int i = 0; i < Math.Min(l.Count, m.Count); i++)
            {
                if (!Eq(l[i], m[i]))
                    return Compare(l[i], m[i], op);
            }
            return l.Count.CompareTo(m.Count);
        }
        throw new PyException($"TypeError: '{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static bool Contains(object? container, object? item)
    {
        container = Plain(container);
        item = Plain(item);
        switch (container)
        {
            case string s:
                if (item is not string sub)
                    throw new PyException($"TypeError: 'in <string>' requires string as left operand, not {TypeName(item)}");
                return s.Contains(sub, StringComparison.Ordinal);
            case PyList l:
                foreach (object? v in l.Items)
                {
                    if (Eq(v, item))
                        return true;
                }
                return false;
            case PyDict d:
                return d.ContainsKey(item);
            case Undefined:
                return false;
            case PyIterator it:
                while (it.MoveNext(out object? x))
                {
                    if (Eq(x, item))
                        return true;
                }
                return false;
            case Namespace:
                throw new PyException("TypeError: argument of type 'Namespace' is not iterable");
            default:
                throw new PyException($"TypeError: argument of type '{TypeName(container)}' is not iterable");
        }
    }

    /// <summary>Python iteration: lists, dict keys, string characters (code points); Undefined iterates empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? v) => v switch
    {
        PyList l => l.Items,
        PyDict d => [.. d.Keys],
        string s => PyStr.CodePoints(s),
        Markup m => PyStr.CodePoints(m.Value),
        PyIterator it => it.Drain(),
        Undefined u => u.IsUnsafe ? throw u.Fail() : [],
        _ => throw new PyException($"TypeError: '{TypeName(v)}' object is not iterable"),
    };

    public static long Length(object? v) => v switch
    {
        string s => PyStr.Length(s),
        Markup m => PyStr.Length(m.Value),
        PyList l => l.Count,
        PyDict d => d.Count,
        Undefined => 0,
        Namespace => throw new PyException("TypeError: object of type 'Namespace' has no len()"),
        _ => throw new PyException($"TypeError: object of type '{TypeName(v)}' has no len()"),
    };
}

/// <summary>Python strings index by code point; .NET strings by UTF-16 unit. These bridge the two.</summary>
internal static class PyStr
{
    public static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    public static int Length(string s) => HasSurrogates(s) ? s.EnumerateRunes().Count() : s.Length;

    public static List<object?> CodePoints(string s)
    {
        var list = new List<object?>(s.Length);
        if (!HasSurrogates(s))
        {
            foreach (char c in s)
                list.Add(c.ToString());
            return list;
        }
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                list.Add(s.Substring(i, 2));
                i++;
            }
            else
                list.Add(s[i].ToString());
        }
        return list;
    }

    /// <summary>UTF-16 offset of code point index <paramref name="cp"/> (clamped).</summary>
    public static int Offset(string s, int cp)
    {
        if (!HasSurrogates(s))
            return Math.Min(cp, s.Length);
        int i = 0;
        for (int n = 0; n < cp && i < s.Length; n++)
            i += char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
        return i;
    }

    public static int CodePointIndex(string s, int offset) =>
        HasSurrogates(s) ? PyStr.Length(s[..offset]) : offset;
}
