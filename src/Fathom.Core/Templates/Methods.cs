using System.Globalization;
using System.Text;

namespace Fathom.Templates;

/// <summary>Positional and keyword arguments of one call, read Python-style (by position, else by name, else default).</summary>
internal readonly struct ArgReader(string func, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
{
    public int Count => args.Count;

    public object? this[int index, string name, object? fallback = null] => TryGet(index, name, out object? v) ? v : fallback;

    public bool TryGet(int index, string name, out object? value)
    {
        if (index >= 0 && index < args.Count)
        {
            value = args[index];
            return true;
        }
        foreach (var kv in kwargs)
        {
            if (kv.Key == name)
            {
                value = kv.Value;
                return true;
            }
        }
        value = null;
        return false;
    }

    public object? Required(int index, string name) => TryGet(index, name, out object? v)
        ? v
        : throw new PyException($"TypeError: {func}() missing required argument '{name}' (pos {index + 1})");

    public void Max(int n)
    {
        if (args.Count > n)
            throw new PyException($"TypeError: {func}() takes at most {n} argument{(n == 1 ? "" : "s")} ({args.Count} given)");
    }

    public string Str(int index, string name, string? fallback = null)
    {
        object? v = fallback is null ? Required(index, name) : this[index, name, fallback];
        return v as string ?? throw new PyException($"TypeError: {func}() argument '{name}' must be str, not {Py.TypeName(v)}");
    }

    public long Int(int index, string name, long fallback)
    {
        object? v = this[index, name, fallback];
        return v is null ? fallback : Py.IsInt(v) ? Py.AsLong(v)
            : throw new PyException($"TypeError: {func}() argument '{name}' must be int, not {Py.TypeName(v)}");
    }

    public bool Bool(int index, string name, bool fallback) => Py.Truthy(this[index, name, fallback]);
}

/// <summary>Python methods on str, dict and list that templates may call; mutating ones are refused like Jinja's immutable sandbox.</summary>
internal static class Methods
{
    private static readonly HashSet<string> StrMethods =
    [
        "startswith", "endswith", "split", "rsplit", "strip", "lstrip", "rstrip", "upper", "lower", "replace", "title",
        "capitalize", "format", "find", "rfind", "index", "rindex", "count", "join", "splitlines", "isdigit", "isalpha",
        "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "istitle", "center", "ljust", "rjust",
        "zfill", "partition", "rpartition", "swapcase", "casefold", "removeprefix", "removesuffix",
    ];

    private static readonly HashSet<string> DictMethods = ["get", "items", "keys", "values", "copy"];
    private static readonly HashSet<string> DictMutators = ["pop", "popitem", "setdefault", "update", "clear"];
    private static readonly HashSet<string> ListMethods = ["index", "count", "copy"];
    private static readonly HashSet<string> ListMutators = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"];

    public static bool IsMethod(object? obj, string name) => obj switch
    {
        string => StrMethods.Contains(name),
        PyDict => DictMethods.Contains(name) || DictMutators.Contains(name),
        PyList l => l.IsTuple ? name is "index" or "count" : ListMethods.Contains(name) || ListMutators.Contains(name),
        _ => false,
    };

    public static object Bind(object? obj, string name)
    {
        if ((obj is PyDict && DictMutators.Contains(name)) || (obj is PyList { IsTuple: false } && ListMutators.Contains(name)))
            return new Undefined($"access to attribute '{name}' of '{Py.TypeName(obj)}' object is unsafe.", name, true);
        return new BoundMethod(obj, name);
    }

    public static object? Invoke(Evaluator ev, object? self, string name, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        if (self is Markup mk)
        {
            object? result = Invoke(ev, mk.Value, name, args, kwargs);
            return result switch
            {
                string rs => new Markup(rs),
                PyList l => new PyList([.. l.Items.Select(x => x is string xs ? new Markup(xs) : x)], l.IsTuple),
                _ => result,
            };
        }
        args = [.. args.Select(Py.Plain)];
        kwargs = [.. kwargs.Select(kv => new KeyValuePair<string, object?>(kv.Key, Py.Plain(kv.Value)))];
        var a = new ArgReader(name, args, kwargs);
        return self switch
        {
            string s => StrMethod(ev, s, name, a),
            PyDict d => DictMethod(d, name, a),
            PyList l => ListMethod(l, name, a),
            _ => throw new PyException($"AttributeError: '{Py.TypeName(self)}' object has no attribute '{name}'"),
        };
    }

    private static object? DictMethod(PyDict d, string name, ArgReader a)
    {
        switch (name)
        {
            case "get":
                return d.TryGet(a.Required(0, "key"), out object? v) ? v : a[1, "default"];
            case "items":
                return new PyList([.. d.Map.Select(kv => (object?)PyList.Tuple(PyDict.Unkey(kv.Key), kv.Value))]);
            case "keys":
                return new PyList([.. d.Keys]);
            case "values":
                return new PyList([.. d.Map.Values]);
            default:
            {
                var copy = new PyDict();
                foreach (var kv in d.Map)
                    copy.Map[kv.Key] = kv.Value;
                return copy;
            }
        }
    }

    private static object? ListMethod(PyList l, string name, ArgReader a)
    {
        switch (name)
        {
            case "index":
            {
                object? x = a.Required(0, "value");
                for (int i = 0; i < l.Count; i++)
                {
                    if (Py.Eq(l[i], x))
                        return (long)i;
                }
                throw new PyException($"ValueError: {Py.Repr(x)} is not in list");
            }
            case "count":
            {
                object? x = a.Required(0, "value");
                return (long)l.Items.Count(v => Py.Eq(v, x));
            }
            default:
                return new PyList([.. l.Items], l.IsTuple);
        }
    }

    private static object? StrMethod(Evaluator ev, string s, string name, ArgReader a)
    {
        switch (name)
        {
            case "startswith" or "endswith":
            {
                object? prefix = a.Required(0, "prefix");
                string target = SubRange(s, a);
                IEnumerable<object?> options = prefix is PyList { IsTuple: true } t ? t.Items : [prefix];
                foreach (object? o in options)
                {
                    if (o is not string p)
                        throw new PyException($"TypeError: {name} first arg must be str or a tuple of str, not {Py.TypeName(o)}");
                    if (name == "startswith" ? target.StartsWith(p, StringComparison.Ordinal) : target.EndsWith(p, StringComparison.Ordinal))
                        return true;
                }
                return false;
            }
            case "split":
                return Split(s, a[0, "sep"], a.Int(1, "maxsplit", -1), fromRight: false);
            case "rsplit":
                return Split(s, a[0, "sep"], a.Int(1, "maxsplit", -1), fromRight: true);
            case "strip" or "lstrip" or "rstrip":
                return Strip(s, a[0, "chars"], name != "rstrip", name != "lstrip");
            case "upper":
                return s.ToUpperInvariant();
            case "lower" or "casefold":
                return s.ToLowerInvariant();
            case "swapcase":
                return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "replace":
            {
                string old = a.Str(0, "old"), @new = a.Str(1, "new");
                long count = a.Int(2, "count", -1);
                return ev.Charge(Replace(s, old, @new, count));
            }
            case "title":
                return Title(s);
            case "capitalize":
                return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
            case "format":
                return ev.Charge(PyFormat.Format(ev, s, a));
            case "find" or "index" or "rfind" or "rindex":
            {
                string sub = a.Str(0, "sub");
                int start = PyStr.Offset(s, ClampIndex(a.Int(1, "start", 0), s));
                int end = PyStr.Offset(s, ClampIndex(a.Int(2, "end", long.MaxValue), s));
                int idx = -1;
                if (end >= start && end - start >= sub.Length)
                {
                    idx = name.StartsWith('r')
                        ? s.LastIndexOf(sub, end - 1 < start ? start : Math.Max(start, end - 1), end - start, StringComparison.Ordinal)
                        : s.IndexOf(sub, start, end - start, StringComparison.Ordinal);
                    if (name.StartsWith('r') && sub.Length == 0)
                        idx = end;
                }
                if (idx < 0)
                {
                    if (name.Contains("index", StringComparison.Ordinal))
                        throw new PyException("ValueError: substring not found");
                    return -1L;
                }
                return (long)PyStr.CodePointIndex(s, idx);
            }
            case "count":
            {
                string sub = a.Str(0, "sub");
                if (sub.Length == 0)
                    return (long)PyStr.Length(s) + 1;
                long n = 0;
                for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal))
                    n++;
                return n;
            }
            case "join":
            {
                var sb = new StringBuilder();
                int i = 0;
                foreach (object? item in Py.Iterate(a.Required(0, "iterable")))
                {
                    if (item is not string str)
                        throw new PyException($"TypeError: sequence item {i}: expected str instance, {Py.TypeName(item)} found");
                    if (i++ > 0)
                        sb.Append(s);
                    sb.Append(str);
                    ev.CheckSize(sb.Length);
                }
                return sb.ToString();
            }
            case "splitlines":
                return SplitLines(s, a.Bool(0, "keepends", false));
            case "isdigit" or "isnumeric" or "isdecimal":
                return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha":
                return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum":
                return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace":
                return s.Length > 0 && s.All(Lexer.IsSpace);
            case "isupper":
                return s.Any(char.IsUpper) && !s.Any(char.IsLower);
            case "islower":
                return s.Any(char.IsLower) && !s.Any(char.IsUpper);
            case "istitle":
                return s.Any(char.IsLetter) && Title(s) == s;
            case "center" or "ljust" or "rjust":
            {
                long width = a.Int(0, "width", 0);
                string fill = a.Str(1, "fillchar", " ");
                int len = PyStr.Length(s);
                if (width <= len)
                    return s;
                ev.CheckSize(width);
                int marg = (int)width - len;
                int left = name switch
                {
                    "ljust" => 0,
                    "rjust" => marg,
                    _ => marg / 2 + (marg & (int)width & 1),
                };
                return Repeat(fill, left) + s + Repeat(fill, marg - left);
            }
            case "zfill":
            {
                long width = a.Int(0, "width", 0);
                int len = PyStr.Length(s);
                if (width <= len)
                    return s;
                ev.CheckSize(width);
                int sign = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                return s[..sign] + new string('0', (int)width - len) + s[sign..];
            }
            case "partition" or "rpartition":
            {
                string sep = a.Str(0, "sep");
                if (sep.Length == 0)
                    throw new PyException("ValueError: empty separator");
                int i = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                if (i < 0)
                    return name == "partition" ? PyList.Tuple(s, "", "") : PyList.Tuple("", "", s);
                return PyList.Tuple(s[..i], sep, s[(i + sep.Length)..]);
            }
            case "removeprefix":
            {
                string p = a.Str(0, "prefix");
                return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s;
            }
            case "removesuffix":
            {
                string p = a.Str(0, "suffix");
                return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s;
            }
            default:
                throw new PyException($"AttributeError: 'str' object has no attribute '{name}'");
        }
    }

    private static string Repeat(string fill, int n) => n <= 0 ? "" : string.Concat(Enumerable.Repeat(fill, n));

    private static int ClampIndex(long i, string s)
    {
        int n = PyStr.Length(s);
        if (i < 0)
            i = Math.Max(0, i + n);
        return (int)Math.Min(i, n);
    }

    private static string SubRange(string s, ArgReader a)
    {
        if (a.Count <= 1)
            return s;
        int start = PyStr.Offset(s, ClampIndex(a.Int(1, "start", 0), s));
        int end = PyStr.Offset(s, ClampIndex(a.Int(2, "end", long.MaxValue), s));
        return end > start ? s[start..end] : "";
    }

    public static string Replace(string s, string old, string @new, long count)
    {
        if (count < 0)
        {
            if (old.Length == 0)
                return InsertBetween(s, @new, long.MaxValue);
            return s.Replace(old, @new, StringComparison.Ordinal);
        }
        if (old.Length == 0)
            return InsertBetween(s, @new, count);
        var sb = new StringBuilder();
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0)
                break;
            sb.Append(s, pos, i - pos).Append(@new);
            pos = i + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static string InsertBetween(string s, string ins, long count)
    {
        var sb = new StringBuilder();
        long n = 0;
        foreach (object? ch in PyStr.CodePoints(s))
        {
            if (n++ < count)
                sb.Append(ins);
            sb.Append((string)ch!);
        }
        if (n < count)
            sb.Append(ins);
        return sb.ToString();
    }

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars switch
        {
            null => Lexer.IsSpace,
            string set => c => set.Contains(c, StringComparison.Ordinal),
            Undefined u => throw u.Fail(),
            _ => throw new PyException($"TypeError: strip arg must be None or str, not {Py.TypeName(chars)}"),
        };
        int lo = 0, hi = s.Length;
        if (left)
        {
            while (lo < hi && strip(s[lo]))
                lo++;
        }
        if (right)
        {
            while (hi > lo && strip(s[hi - 1]))
                hi--;
        }
        return s[lo..hi];
    }

    private static PyList Split(string s, object? sep, long maxsplit, bool fromRight)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            // Whitespace split: runs of whitespace separate, empty strings never appear.
            if (!fromRight)
            {
                int i = 0;
                while (true)
                {
                    while (i < s.Length && Lexer.IsSpace(s[i]))
                        i++;
                    if (i >= s.Length)
                        break;
                    if (maxsplit >= 0 && parts.Count == maxsplit)
                    {
                        parts.Add(s[i..]);
                        break;
                    }
                    int j = i;
                    while (j < s.Length && !Lexer.IsSpace(s[j]))
                        j++;
                    parts.Add(s[i..j]);
                    i = j;
                }
                return new PyList(parts);
            }
            int end = s.Length;
            while (true)
            {
                while (end > 0 && Lexer.IsSpace(s[end - 1]))
                    end--;
                if (end <= 0)
                    break;
                if (maxsplit >= 0 && parts.Count == maxsplit)
                {
                    parts.Add(s[..end]);
                    break;
                }
                int j = end;
                while (j > 0 && !Lexer.IsSpace(s[j - 1]))
                    j--;
                parts.Add(s[j..end]);
                end = j;
            }
            parts.Reverse();
            return new PyList(parts);
        }
        if (sep is not string sp)
            throw new PyException($"TypeError: must be str or None, not {Py.TypeName(sep)}");
        if (sp.Length == 0)
            throw new PyException("ValueError: empty separator");
        if (!fromRight)
        {
            int pos = 0;
            while (maxsplit < 0 || parts.Count < maxsplit)
            {
                int i = s.IndexOf(sp, pos, StringComparison.Ordinal);
                if (i < 0)
                    break;
                parts.Add(s[pos..i]);
                pos = i + sp.Length;
            }
            parts.Add(s[pos..]);
            return new PyList(parts);
        }
        int stop = s.Length;
        while (maxsplit < 0 || parts.Count < maxsplit)
        {
            if (stop < sp.Length)
                break;
            int i = s.LastIndexOf(sp, stop - 1, stop, StringComparison.Ordinal);
            if (i < 0)
                break;
            parts.Add(s[(i + sp.Length)..stop]);
            stop = i;
        }
        parts.Add(s[..stop]);
        parts.Reverse();
        return new PyList(parts);
    }

    private static PyList SplitLines(string s, bool keepEnds)
    {
        var parts = new List<object?>();
        int start = 0, i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            int eol;
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n')
                eol = 2;
            else if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
                eol = 1;
            else
            {
                i++;
                continue;
            }
            parts.Add(keepEnds ? s[start..(i + eol)] : s[start..i]);
            i += eol;
            start = i;
        }
        if (start < s.Length)
            parts.Add(s[start..]);
        return new PyList(parts);
    }

    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevCased = false;
        foreach (char c in s)
        {
            bool cased = char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
            if (cased)
                sb.Append(prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            else
                sb.Append(c);
            prevCased = cased;
        }
        return sb.ToString();
    }
}
