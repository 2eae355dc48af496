using System.Globalization;
using System.Text;

namespace Fathom.Templates;

/// <summary>Jinja2's built-in filters (plus transformers' tojson), with Jinja2's argument names and defaults.</summary>
internal static class Filters
{
    private delegate object? Filter(Evaluator ev, object? value, ArgReader a);

    private static readonly Dictionary<string, Filter> All = new(StringComparer.Ordinal)
    {
        ["abs"] = (_, v, _) => v switch
        {
            long l => (object)Math.Abs(l),
            double d => Math.Abs(d),
            bool b => b ? 1L : 0L,
            _ => throw new PyException($"TypeError: bad operand type for abs(): '{Py.TypeName(v)}'"),
        },
        ["attr"] = (ev, v, a) => ev.GetAttr(v, a.Str(0, "name")),
        ["batch"] = Batch,
        ["capitalize"] = (_, v, _) => Str(v) is { Length: > 0 } s ? char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant() : "",
        ["center"] = (ev, v, a) => Methods.Invoke(ev, Str(v), "center", [a[0, "width", 80L]], []),
        ["count"] = (_, v, _) => Py.Length(v),
        ["d"] = Default,
        ["default"] = Default,
        ["dictsort"] = DictSort,
        ["e"] = (_, v, _) => Escape(v),
        ["escape"] = (_, v, _) => Escape(v),
        ["forceescape"] = (_, v, _) => Escape(v),
        ["first"] = (_, v, _) => v is PyIterator it ? (it.MoveNext(out object? x) ? x : new Undefined("No first item, sequence was empty.", null, false))
            : Py.Iterate(v) is { Count: > 0 } items ? items[0] : new Undefined("No first item, sequence was empty.", null, false),
        ["float"] = (_, v, a) => v is Undefined u ? throw u.Fail() : ToFloat(v, a[0, "default", 0.0]),
        ["format"] = (ev, v, a) => ev.Charge(PyFormat.Percent(Str(v), FormatArgs(a))),
        ["groupby"] = GroupBy,
        ["indent"] = Indent,
        ["int"] = (_, v, a) => v is Undefined u ? throw u.Fail() : ToInt(v, a[0, "default", 0L], a.Int(1, "base", 10)),
        ["items"] = (_, v, _) => v switch
        {
            Undefined => new PyIterator([]),
            PyDict d => new PyIterator([.. d.Map.Select(kv => (object?)PyList.Tuple(PyDict.Unkey(kv.Key), kv.Value))]),
            _ => throw new PyException("TypeError: Can only get item pairs from a mapping."),
        },
        ["join"] = Join,
        ["last"] = (_, v, _) => v is PyIterator it ? throw new PyException($"TypeError: '{it.Kind}' object is not reversible") : Py.Iterate(v) is { Count: > 0 } items ? items[^1] : new Undefined("No last item, sequence was empty.", null, false),
        ["length"] = (_, v, _) => Py.Length(v),
        ["list"] = (_, v, _) => new PyList([.. Py.Iterate(v)]),
        ["lower"] = (_, v, _) => Str(v).ToLowerInvariant(),
        ["map"] = Map,
        ["max"] = (ev, v, a) => MinMax(ev, v, a, max: true),
        ["min"] = (ev, v, a) => MinMax(ev, v, a, max: false),
        ["pprint"] = (_, v, _) => Py.Repr(SortedDicts(v, 0)),
        ["reject"] = (ev, v, a) => Select(ev, v, a, attr: false, keep: false),
        ["rejectattr"] = (ev, v, a) => Select(ev, v, a, attr: true, keep: false),
        ["replace"] = (ev, v, a) => ev.Charge(Methods.Replace(Str(v), Str(a.Required(0, "old")), Str(a.Required(1, "new")), a[2, "count"] is null ? -1 : a.Int(2, "count", -1))),
        ["reverse"] = (_, v, _) => v switch
        {
            string s => string.Concat(PyStr.CodePoints(s).AsEnumerable().Reverse()),
            PyList l => new PyIterator([.. l.Items.AsEnumerable().Reverse()], l.IsTuple ? "reversed" : "list_reverseiterator"),
            PyDict d => new PyIterator([.. d.Keys.Reverse()], "dict_reversekeyiterator"),
            _ => new PyList([.. Py.Iterate(v).Reverse()]),
        },
        ["round"] = Round,
        ["safe"] = (_, v, _) => Str(v),
        ["select"] = (ev, v, a) => Select(ev, v, a, attr: false, keep: true),
        ["selectattr"] = (ev, v, a) => Select(ev, v, a, attr: true, keep: true),
        ["slice"] = SliceFilter,
        ["sort"] = Sort,
        ["string"] = (_, v, _) => Str(v),
        ["striptags"] = (_, v, _) => string.Join(' ', System.Text.RegularExpressions.Regex.Replace(Str(v), "<!--.*?-->|<[^>]*>", "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)),
        ["sum"] = Sum,
        ["title"] = (_, v, _) => Title(Str(v)),
        ["tojson"] = ToJson,
        ["trim"] = (_, v, a) => Methods.Strip(Str(v), a[0, "chars"], true, true),
        ["truncate"] = Truncate,
        ["unique"] = Unique,
        ["upper"] = (_, v, _) => Str(v).ToUpperInvariant(),
        ["urlencode"] = (_, v, _) => Uri.EscapeDataString(Str(v)).Replace("%2F", "/", StringComparison.Ordinal),
        ["wordcount"] = (_, v, _) => (long)System.Text.RegularExpressions.Regex.Count(Str(v), @"\w+"),
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static object? Apply(Evaluator ev, string name, object? value, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        if (!All.TryGetValue(name, out Filter? f))
            throw new PyException($"No filter named '{name}'.");
        if (value is Undefined { IsUnsafe: true } u && name is not ("default" or "d"))
            throw u.Fail();
        switch (name)
        {
            case "safe":
                return value as Markup ?? new Markup(Py.Str(value));
            case "e" or "escape":
                return Markup.Of(value);
            case "forceescape":
                return new Markup(Markup.Escape(Py.Str(value)));
            case "string" when value is Markup:
                return value;
            case "default" or "d" or "first" or "last" or "list":
                break;
            default:
                value = Py.Plain(value);
                break;
        }
        args = [.. args.Select(Py.Plain)];
        kwargs = [.. kwargs.Select(kv => new KeyValuePair<string, object?>(kv.Key, Py.Plain(kv.Value)))];
        return f(ev, value, new ArgReader(name, args, kwargs));
    }

    private static string Str(object? v) => Py.Str(v);

    // pprint.pformat sorts dict keys.
    private static object? SortedDicts(object? v, int depth)
    {
        if (depth > 100)
            return v;
        switch (v)
        {
            case PyList l:
                return new PyList([.. l.Items.Select(x => SortedDicts(x, depth + 1))], l.IsTuple);
            case PyDict d:
            {
                var entries = d.Map.ToList();
                try
                {
                    entries = StableSort(entries, (x, y) => Py.Compare(PyDict.Unkey(x.Key), PyDict.Unkey(y.Key)), false);
                }
                catch (PyException)
                {
                    // Keys of mixed types: pprint falls back to its own safe ordering; insertion order is close enough.
                }
                var sorted = new PyDict();
                foreach (var kv in entries)
                    sorted.Map[kv.Key] = SortedDicts(kv.Value, depth + 1);
                return sorted;
            }
            default:
                return v;
        }
    }

    private static object? Default(Evaluator ev, object? v, ArgReader a)
    {
        object? fallback = a[0, "default_value", ""];
        bool boolean = a.Bool(1, "boolean", false);
        return v is Undefined || (boolean && !Py.Truthy(v)) ? fallback : v;
    }

    private static string Escape(object? v)
    {
        var sb = new StringBuilder();
        foreach (char c in Str(v))
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

    private static object? FormatArgs(ArgReader a)
    {
        var items = new List<object?>();
        for (int i = 0; i < a.Count; i++)
            items.Add(a[i, ""]);
        return new PyList(items, isTuple: true);
    }

    private static object? ToFloat(object? v, object? fallback)
    {
        switch (v)
        {
            case double d: return d;
            case long or bool: return Py.ToDouble(v);
            case string s:
            {
                string t = s.Trim().Replace("_", "", StringComparison.Ordinal);
                if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                    return d;
                return t.ToLowerInvariant() switch
                {
                    "inf" or "+inf" or "infinity" or "+infinity" => double.PositiveInfinity,
                    "-inf" or "-infinity" => double.NegativeInfinity,
                    "nan" or "+nan" or "-nan" => double.NaN,
                    _ => fallback,
                };
            }
            default: return fallback;
        }
    }

    private static object? ToInt(object? v, object? fallback, long radix)
    {
        switch (v)
        {
            case long: return v;
            case bool b: return b ? 1L : 0L;
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
            {
                string t = s.Trim().Replace("_", "", StringComparison.Ordinal);
                try
                {
                    if (radix == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
                        return l;
                    if (radix is 2 or 8 or 16 && t.Length > 0)
                    {
                        bool neg = t.StartsWith('-');
                        string body = t.TrimStart('+', '-');
                        if (body.Length > 2 && body[0] == '0' && char.ToLowerInvariant(body[1]) == (radix == 16 ? 'x' : radix == 8 ? 'o' : 'b'))
                            body = body[2..];
                        long r = Convert.ToInt64(body, (int)radix);
                        return neg ? -r : r;
                    }
                }
                catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
                {
                    return fallback;
                }
                return ToFloat(s, null) is double d && double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            }
            default: return fallback;
        }
    }

    private static object? Indent(Evaluator ev, object? v, ArgReader a)
    {
        object? width = a[0, "width", 4L];
        bool first = a.Bool(1, "first", false);
        bool blank = a.Bool(2, "blank", false);
        if (v is not string)
            throw new PyException($"TypeError: unsupported operand type(s) for +=: '{Py.TypeName(v)}' and 'str'");
        string indention = width is string ws ? ws : new string(' ', (int)Math.Max(0, Math.Min(Py.AsLong(width), 10_000)));
        string s = Str(v) + "\n";
        var lines = ((PyList)Methods.Invoke(ev, s, "splitlines", [], [])!).Items.Cast<string>().ToList();
        var sb = new StringBuilder();
        if (blank)
            sb.AppendJoin("\n" + indention, lines);
        else
        {
            sb.Append(lines[0]);
            for (int i = 1; i < lines.Count; i++)
            {
                sb.Append('\n');
                if (lines[i].Length > 0)
                    sb.Append(indention);
                sb.Append(lines[i]);
            }
        }
        string rv = sb.ToString();
        return ev.Charge(first ? indention + rv : rv);
    }

    private static object? Join(Evaluator ev, object? v, ArgReader a)
    {
        string sep = Str(a[0, "d", ""]);
        IEnumerable<object?> items = Py.Iterate(v);
        if (a[1, "attribute"] is { } attr)
        {
            var getter = AttrGetter(ev, attr, null);
            items = items.Select(getter);
        }
        var sb = new StringBuilder();
        bool firstItem = true;
        foreach (object? item in items)
        {
            if (!firstItem)
                sb.Append(sep);
            firstItem = false;
            sb.Append(Str(item));
            ev.CheckSize(sb.Length);
        }
        return sb.ToString();
    }

    /// <summary>Jinja's make_attrgetter: dotted path, integer parts index, each step an item lookup.</summary>
    private static Func<object?, object?> AttrGetter(Evaluator ev, object? attribute, object? fallback, bool lower = false)
    {
        object?[] parts = attribute is string s
            ? [.. s.Split('.').Select(p => long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? (object?)n : p)]
            : [attribute];
        return item =>
        {
            object? cur = item;
            foreach (object? p in parts)
            {
                cur = ev.GetItem(cur, p);
                if (cur is Undefined && fallback is not null)
                {
                    cur = fallback;
                    break;
                }
            }
            if (lower && cur is string str)
                cur = str.ToLowerInvariant();
            return cur;
        };
    }

    private static object? Select(Evaluator ev, object? v, ArgReader a, bool attr, bool keep)
    {
        if (!Py.Truthy(v))
            return new PyIterator([]);
        int next = 0;
        Func<object?, object?> getter = x => x;
        if (attr)
        {
            getter = AttrGetter(ev, a.Required(0, "attribute"), null);
            next = 1;
        }
        Func<object?, bool> predicate;
        if (a.Count > next)
        {
            string test = Str(a[next, ""]);
            var rest = new List<object?>();
            for (int i = next + 1; i < a.Count; i++)
                rest.Add(a[i, ""]);
            predicate = x => Py.Truthy(Tests.Apply(ev, test, x, rest, []));
        }
        else
            predicate = Py.Truthy;
        return new PyIterator(Py.Iterate(v).Where(item => predicate(getter(item)) == keep));
    }

    private static object? Map(Evaluator ev, object? v, ArgReader a)
    {
        if (!Py.Truthy(v))
            return new PyIterator([]);
        IReadOnlyList<object?> items = Py.Iterate(v);
        if (a.Count == 0 && a.TryGet(-1, "attribute", out object? attribute))
        {
            object? fallback = a[-1, "default"];
            var getter = AttrGetter(ev, attribute, fallback);
            return new PyIterator(items.Select(getter));
        }
        string name = Str(a.Required(0, "filter"));
        var rest = new List<object?>();
        for (int i = 1; i < a.Count; i++)
            rest.Add(a[i, ""]);
        return new PyIterator(items.Select(x => Apply(ev, name, x, rest, [])));
    }

    private static object? DictSort(Evaluator ev, object? v, ArgReader a)
    {
        if (v is not PyDict d)
            throw new PyException("TypeError: dictsort expects a mapping");
        bool caseSensitive = a.Bool(0, "case_sensitive", false);
        string by = a.Str(1, "by", "key");
        bool reverse = a.Bool(2, "reverse", false);
        int pos = by switch
        {
            "key" => 0,
            "value" => 1,
            _ => throw new PyException("FilterArgumentError: You can only sort by either \"key\" or \"value\""),
        };
        var pairs = d.Map.Select(kv => (Key: PyDict.Unkey(kv.Key), kv.Value)).ToList();
        object? SortKey((object? Key, object? Value) p)
        {
            object? k = pos == 0 ? p.Key : p.Value;
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }
        var sorted = StableSort(pairs, (x, y) => Py.Compare(SortKey(x), SortKey(y)), reverse);
        return new PyList([.. sorted.Select(p => (object?)PyList.Tuple(p.Key, p.Value))]);
    }

    private static List<T> StableSort<T>(List<T> items, Comparison<T> cmp, bool reverse)
    {
        var indexed = items.Select((x, i) => (x, i)).ToList();
        try
        {
            indexed.Sort((p, q) =>
            {
                int c = cmp(p.x, q.x);
                if (reverse)
                    c = -c;
                return c != 0 ? c : p.i.CompareTo(q.i);
            });
        }
        catch (InvalidOperationException ex) when (ex.InnerException is PyException inner)
        {
            throw inner;
        }
        return [.. indexed.Select(p => p.x)];
    }

    private static object? Sort(Evaluator ev, object? v, ArgReader a)
    {
        bool reverse = a.Bool(0, "reverse", false);
        bool caseSensitive = a.Bool(1, "case_sensitive", false);
        object? attribute = a[2, "attribute"];
        Func<object?, object?> getter = x => !caseSensitive && x is string s ? s.ToLowerInvariant() : x;
        if (attribute is not null)
        {
            // make_multi_attrgetter: "a,b" sorts by several attributes; keys compare as lists (equal first, then <).
            var getters = (attribute is string names ? names.Split(',').Cast<object?>() : [attribute]).Select(p => AttrGetter(ev, p, null, !caseSensitive)).ToList();
            getter = x => new PyList([.. getters.Select(g => g(x))]);
        }
        return new PyList(StableSort([.. Py.Iterate(v)], (x, y) => Py.Compare(getter(x), getter(y)), reverse));
    }

    private static object? MinMax(Evaluator ev, object? v, ArgReader a, bool max)
    {
        bool caseSensitive = a.Bool(0, "case_sensitive", false);
        object? attribute = a[1, "attribute"];
        var getter = attribute is null ? (x => !caseSensitive && x is string s ? s.ToLowerInvariant() : x) : AttrGetter(ev, attribute, null, !caseSensitive);
        IReadOnlyList<object?> items = Py.Iterate(v);
        if (items.Count == 0)
            return new Undefined($"No aggregated item, sequence was empty.", null, false);
        object? best = items[0];
        foreach (object? item in items.Skip(1))
        {
            int c = Py.Compare(getter(item), getter(best));
            if (max ? c > 0 : c < 0)
                best = item;
        }
        return best;
    }

    private static object? Sum(Evaluator ev, object? v, ArgReader a)
    {
        object? attribute = a[0, "attribute"];
        object? total = a[1, "start", 0L];
        var getter = attribute is null ? (x => x) : AttrGetter(ev, attribute, null);
        foreach (object? item in Py.Iterate(v))
            total = Operators.Binary(ev, "+", total, getter(item));
        return total;
    }

    private static object? Unique(Evaluator ev, object? v, ArgReader a)
    {
        bool caseSensitive = a.Bool(0, "case_sensitive", false);
        object? attribute = a[1, "attribute"];
        var getter = attribute is null ? (x => !caseSensitive && x is string s ? s.ToLowerInvariant() : x) : AttrGetter(ev, attribute, null, !caseSensitive);
        var seen = new HashSet<object>(PyKeyComparer.Instance);
        var result = new List<object?>();
        foreach (object? item in Py.Iterate(v))
        {
            if (seen.Add(PyDict.Key(getter(item))))
                result.Add(item);
        }
        return new PyIterator(result);
    }

    private static object? Round(Evaluator ev, object? v, ArgReader a)
    {
        long precision = a.Int(0, "precision", 0);
        string method = a.Str(1, "method", "common");
        if (v is long or bool && method == "common")
            return Py.AsLong(v);
        double d = Py.ToDouble(v);
        double scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => precision is >= 0 and <= 15 ? Math.Round(d, (int)precision, MidpointRounding.ToEven) : Math.Round(d * scale, MidpointRounding.ToEven) / scale,
            "ceil" => Math.Ceiling(d * scale) / scale,
            "floor" => Math.Floor(d * scale) / scale,
            _ => throw new PyException("FilterArgumentError: method must be common, ceil or floor"),
        };
    }

    private static object? Batch(Evaluator ev, object? v, ArgReader a)
    {
        long size = a.Int(0, "linecount", 1);
        if (size <= 0)
            throw new PyException("ValueError: batch size must be positive");
        object? fill = a[1, "fill_with"];
        var result = new List<object?>();
        var cur = new List<object?>();
        foreach (object? item in Py.Iterate(v))
        {
            cur.Add(item);
            if (cur.Count == size)
            {
                result.Add(new PyList(cur));
                cur = [];
            }
        }
        if (cur.Count > 0)
        {
            if (fill is not null)
            {
                while (cur.Count < size)
                    cur.Add(fill);
            }
            result.Add(new PyList(cur));
        }
        return new PyIterator(result);
    }

    private static object? SliceFilter(Evaluator ev, object? v, ArgReader a)
    {
        long slices = a.Int(0, "slices", 1);
        if (slices <= 0 || slices > 100_000)
            throw new PyException("ValueError: invalid slice count");
        object? fill = a[1, "fill_with"];
        var seq = Py.Iterate(v).ToList();
        int length = seq.Count;
        long perSlice = length / slices, withExtra = length % slices, offset = 0;
        var result = new List<object?>();
        for (long i = 0; i < slices; i++)
        {
            long start = offset + i * perSlice;
            if (i < withExtra)
                offset++;
            long end = offset + (i + 1) * perSlice;
            var tmp = seq.Skip((int)start).Take((int)(end - start)).ToList();
            if (fill is not null && i >= withExtra)
                tmp.Add(fill);
            result.Add(new PyList(tmp));
        }
        return new PyIterator(result);
    }

    private static object? GroupBy(Evaluator ev, object? v, ArgReader a)
    {
        object? attribute = a.Required(0, "attribute");
        object? fallback = a[1, "default"];
        bool caseSensitive = a.Bool(2, "case_sensitive", false);
        var getter = AttrGetter(ev, attribute, fallback, !caseSensitive);
        var sorted = StableSort([.. Py.Iterate(v)], (x, y) => Py.Compare(getter(x), getter(y)), false);
        var groups = new List<object?>();
        object? curKey = null;
        List<object?>? cur = null;
        foreach (object? item in sorted)
        {
            object? k = getter(item);
            if (cur is null || !Py.Eq(k, curKey))
            {
                cur = [];
                curKey = k;
                groups.Add(PyList.Tuple(k, new PyList(cur)));
            }
            cur.Add(item);
        }
        return new PyList(groups);
    }

    private static object? Truncate(Evaluator ev, object? v, ArgReader a)
    {
        long length = a.Int(0, "length", 255);
        long leewayArg = a[3, "leeway"] is null ? 5 : a.Int(3, "leeway", 5);
        if (v is not string)
        {
            // Jinja applies len() and slicing to the value itself, not to its str().
            if (Py.Length(v) <= length + leewayArg)
                return v;
            throw new PyException($"TypeError: can only concatenate {Py.TypeName(v)} (not \"str\") to {Py.TypeName(v)}");
        }
        string s = (string)v;
        bool killwords = a.Bool(1, "killwords", false);
        string end = a.Str(2, "end", "...");
        long leeway = a[3, "leeway"] is null ? 5 : a.Int(3, "leeway", 5);
        if (length < end.Length)
            throw new PyException("AssertionError: expected length >= len(end)");
        if (s.Length <= length + leeway)
            return s;
        if (killwords)
            return s[..(int)(length - end.Length)] + end;
        string cut = s[..(int)(length - end.Length)];
        int sp = cut.LastIndexOf(' ');
        return (sp >= 0 ? cut[..sp] : cut) + end;
    }

    private static string Title(string s)
    {
        var sb = new StringBuilder();
        foreach (string part in System.Text.RegularExpressions.Regex.Split(s, @"([-\s({\[<]+)"))
        {
            if (part.Length == 0)
                continue;
            sb.Append(char.ToUpperInvariant(part[0])).Append(part[1..].ToLowerInvariant());
        }
        return sb.ToString();
    }

    private static object? ToJson(Evaluator ev, object? v, ArgReader a)
    {
        bool ensureAscii = a.Bool(0, "ensure_ascii", false);
        object? indent = a[1, "indent"];
        object? separators = a[2, "separators"];
        bool sortKeys = a.Bool(3, "sort_keys", false);
        string? indentStr = indent switch
        {
            null => null,
            string s => s,
            _ when Py.IsInt(indent) => new string(' ', (int)Math.Clamp(Py.AsLong(indent), 0, 1000)),
            _ => throw new PyException($"TypeError: indent must be int or str, not {Py.TypeName(indent)}"),
        };
        string? itemSep = null, keySep = null;
        if (separators is not null)
        {
            IReadOnlyList<object?> seps = Py.Iterate(separators);
            if (seps.Count != 2 || seps[0] is not string s0 || seps[1] is not string s1)
                throw new PyException("ValueError: separators must be a pair of strings");
            itemSep = s0;
            keySep = s1;
        }
        return ev.Charge(new JsonDumps(ev, ensureAscii, indentStr, itemSep, keySep, sortKeys).Dump(v));
    }
}
