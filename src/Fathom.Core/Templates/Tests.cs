namespace Fathom.Templates;

/// <summary>Jinja2's built-in tests (`x is defined`, `x is divisibleby 3`, ...).</summary>
internal static class Tests
{
    private delegate bool Test(Evaluator ev, object? value, ArgReader a);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["boolean"] = (_, v, _) => v is bool,
        ["callable"] = (_, v, _) => v is PyCallable or Undefined,
        ["defined"] = (_, v, _) => v is not Undefined,
        ["divisibleby"] = (ev, v, a) => Py.Eq(Operators.Binary(ev, "%", v, a.Required(0, "num")), 0L),
        ["eq"] = Eq,
        ["equalto"] = Eq,
        ["=="] = Eq,
        ["escaped"] = (_, _, _) => false,
        ["even"] = (ev, v, _) => Py.Eq(Operators.Binary(ev, "%", v, 2L), 0L),
        ["false"] = (_, v, _) => v is false,
        ["filter"] = (_, v, _) => v is string s && Filters.Exists(s),
        ["float"] = (_, v, _) => v is double,
        ["ge"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), ">=") >= 0,
        [">="] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), ">=") >= 0,
        ["gt"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), ">") > 0,
        ["greaterthan"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), ">") > 0,
        [">"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), ">") > 0,
        ["in"] = (_, v, a) => Py.Contains(a.Required(0, "seq"), v),
        ["integer"] = (_, v, _) => v is long or System.Numerics.BigInteger,
        ["iterable"] = (_, v, _) => v is string or PyList or PyDict or Undefined or PyIterator,
        ["le"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), "<=") <= 0,
        ["<="] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), "<=") <= 0,
        ["lower"] = (_, v, _) => Py.Str(v) is var s && s.Any(char.IsLower) && !s.Any(char.IsUpper),
        ["lt"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), "<") < 0,
        ["lessthan"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), "<") < 0,
        ["<"] = (_, v, a) => Py.Compare(v, a.Required(0, "other"), "<") < 0,
        ["mapping"] = (_, v, _) => v is PyDict,
        ["ne"] = (_, v, a) => !Py.Eq(v, a.Required(0, "other")),
        ["!="] = (_, v, a) => !Py.Eq(v, a.Required(0, "other")),
        ["none"] = (_, v, _) => v is null,
        ["number"] = (_, v, _) => v is long or double or bool or System.Numerics.BigInteger,
        ["odd"] = (ev, v, _) => Py.Eq(Operators.Binary(ev, "%", v, 2L), 1L),
        ["sameas"] = (_, v, a) => SameAs(v, a.Required(0, "other")),
        ["sequence"] = (_, v, _) => v is string or PyList or PyDict or Undefined,
        ["string"] = (_, v, _) => v is string,
        ["test"] = (_, v, _) => v is string s && All!.ContainsKey(s),
        ["true"] = (_, v, _) => v is true,
        ["undefined"] = (_, v, _) => v is Undefined,
        ["upper"] = (_, v, _) => Py.Str(v) is var s && s.Any(char.IsUpper) && !s.Any(char.IsLower),
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static object? Apply(Evaluator ev, string name, object? value, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        if (!All.TryGetValue(name, out Test? t))
            throw new PyException($"No test named '{name}'.");
        args = [.. args.Select(Py.Plain)];
        kwargs = [.. kwargs.Select(kv => new KeyValuePair<string, object?>(kv.Key, Py.Plain(kv.Value)))];
        return t(ev, Py.Plain(value), new ArgReader(name, args, kwargs));
    }

    private static bool Eq(Evaluator ev, object? v, ArgReader a) => Py.Eq(v, a.Required(0, "other"));

    private static bool SameAs(object? a, object? b) => a switch
    {
        null => b is null,
        bool x => b is bool y && x == y,
        long x => b is long y && x == y && x is >= -5 and <= 256,
        string x => b is string y && ReferenceEquals(x, y),
        _ => ReferenceEquals(a, b),
    };
}
