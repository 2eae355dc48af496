namespace Fathom.Templates;

/// <summary>The template called raise_exception(message).</summary>
internal sealed class RaisedException(string message) : Exception(message);

/// <summary>Global functions: Jinja2's (range, dict, namespace, cycler, joiner) and transformers' (raise_exception, strftime_now).</summary>
internal static class Globals
{
    private const long MaxRange = 100_000;

    private static readonly BuiltinFunction Range = new("range", (ev, a, kw) =>
    {
        if (kw.Count > 0)
            throw new PyException("TypeError: range() takes no keyword arguments");
        foreach (object? x in a)
        {
            if (x is Undefined u)
                throw u.Fail();
            if (!Py.IsInt(x))
                throw new PyException($"TypeError: '{Py.TypeName(x)}' object cannot be interpreted as an integer");
        }
        long start = 0, stop, step = 1;
        switch (a.Count)
        {
            case 1: stop = Py.AsLong(a[0]); break;
            case 2: start = Py.AsLong(a[0]); stop = Py.AsLong(a[1]); break;
            case 3: start = Py.AsLong(a[0]); stop = Py.AsLong(a[1]); step = Py.AsLong(a[2]); break;
            default: throw new PyException($"TypeError: range expected at most 3 arguments, got {a.Count}");
        }
        if (step == 0)
            throw new PyException("ValueError: range() arg 3 must not be zero");
        long count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (count > MaxRange)
            throw new PyException($"OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var items = new List<object?>((int)count);
        for (long i = 0; i < count; i++)
            items.Add(start + i * step);
        return new PyList(items);
    });

    private static readonly BuiltinFunction Dict = new("dict", (ev, a, kw) =>
    {
        var d = new PyDict();
        if (a.Count > 1)
            throw new PyException($"TypeError: dict expected at most 1 argument, got {a.Count}");
        if (a.Count == 1)
        {
            if (a[0] is PyDict src)
            {
                foreach (var kv in src.Map)
                    d.Map[kv.Key] = kv.Value;
            }
            else
            {
                foreach (object? pair in Py.Iterate(a[0]))
                {
                    IReadOnlyList<object?> p = Py.Iterate(pair);
                    if (p.Count != 2)
                        throw new PyException("ValueError: dictionary update sequence element has wrong length");
                    d.Set(p[0], p[1]);
                }
            }
        }
        foreach (var (k, v) in kw)
            d.Set(k, v);
        return d;
    });

    private static readonly BuiltinFunction NamespaceFn = new("namespace", (ev, a, kw) =>
    {
        var ns = new Namespace();
        foreach (object? arg in a)
        {
            if (arg is not PyDict src)
                throw new PyException("TypeError: namespace() positional argument must be a dict");
            foreach (var kv in src.Map)
                ns.Attrs[PyDict.Unkey(kv.Key) as string ?? throw new PyException("TypeError: keywords must be strings")] = kv.Value;
        }
        foreach (var (k, v) in kw)
            ns.Attrs[k] = v;
        return ns;
    });

    private static readonly BuiltinFunction Raise = new("raise_exception", (ev, a, kw) =>
    {
        object? msg = a.Count > 0 ? a[0] : kw.FirstOrDefault(p => p.Key == "message").Value;
        throw new RaisedException(Py.Str(msg));
    });

    private static readonly BuiltinFunction StrftimeNow = new("strftime_now", (ev, a, kw) =>
    {
        if (a.Count != 1 || a[0] is not string fmt)
            throw new PyException("TypeError: strftime_now() takes one format string");
        return Strftime.Format(ev.Now, fmt);
    });

    private static readonly BuiltinFunction Joiner = new("joiner", (ev, a, kw) =>
    {
        string sep = a.Count > 0 ? Py.Str(a[0]) : ", ";
        bool used = false;
        return new BuiltinFunction("joiner", (_, _, _) =>
        {
            if (!used)
            {
                used = true;
                return "";
            }
            return sep;
        });
    });

    private static readonly BuiltinFunction Cycler = new("cycler", (ev, a, kw) =>
    {
        if (a.Count == 0)
            throw new PyException("TypeError: at least one item has to be provided");
        int pos = 0;
        var items = a.ToList();
        var ns = new Namespace();
        ns.Attrs["next"] = new BuiltinFunction("next", (_, _, _) => items[pos++ % items.Count]);
        ns.Attrs["reset"] = new BuiltinFunction("reset", (_, _, _) =>
        {
            pos = 0;
            return null;
        });
        return ns;
    });

    public static Scope Create()
    {
        var scope = new Scope(null);
        scope.Set("range", Range);
        scope.Set("dict", Dict);
        scope.Set("namespace", NamespaceFn);
        scope.Set("raise_exception", Raise);
        scope.Set("strftime_now", StrftimeNow);
        scope.Set("joiner", Joiner);
        scope.Set("cycler", Cycler);
        return scope;
    }
}
