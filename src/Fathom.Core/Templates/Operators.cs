namespace Fathom.Templates;

/// <summary>Python's arithmetic and concatenation operators over template values.</summary>
internal static class Operators
{
    public static object? Binary(Evaluator ev, string op, object? a, object? b)
    {
        if (op == "~")
            return ev.Charge(Py.Str(a) + Py.Str(b));
        if (a is Markup || b is Markup)
        {
            if (MarkupOp(ev, op, a, b) is { } m)
                return m;
            a = Py.Plain(a);
            b = Py.Plain(b);
        }
        if (op == "%" && a is string fmt)
            return ev.Charge(PyFormat.Percent(fmt, b));
        if (a is Undefined ua)
            throw ua.Fail();
        if (b is Undefined ub)
            throw ub.Fail();
        try
        {
            return op switch
            {
                "+" => Add(ev, a, b),
                "-" => Arith(a, b, op, (x, y) => checked(x - y), (x, y) => x - y),
                "*" => Mul(ev, a, b),
                "/" => Py.IsNumber(a) && Py.IsNumber(b)
                    ? (Py.ToDouble(b) == 0 ? throw new PyException("ZeroDivisionError: division by zero") : Py.ToDouble(a) / Py.ToDouble(b))
                    : throw Unsupported(op, a, b),
                "//" => Arith(a, b, op, FloorDiv, (x, y) => y == 0 ? throw new PyException("ZeroDivisionError: float floor division by zero") : Math.Floor(x / y)),
                "%" => a is string s ? ev.Charge(PyFormat.Percent(s, b)) : Arith(a, b, op, Mod, FMod),
                "**" => Pow(a, b),
                _ => throw new PyException($"unknown operator {op}"),
            };
        }
        catch (OverflowException)
        {
            throw new PyException("OverflowError: integer result too large");
        }
    }

    // markupsafe: Markup + str escapes the str; Markup % args escapes the args; Markup * n stays Markup.
    private static Markup? MarkupOp(Evaluator ev, string op, object? a, object? b)
    {
        switch (op)
        {
            case "+" when a is string or Markup && b is string or Markup:
                return new Markup(ev.Charge(Markup.Of(a).Value + Markup.Of(b).Value));
            case "*" when a is Markup ma && Py.IsInt(b):
                return new Markup((string)Binary(ev, "*", ma.Value, b)!);
            case "%" when a is Markup fmt:
            {
                object? args = b switch
                {
                    PyList { IsTuple: true } t => new PyList([.. t.Items.Select(x => x is string or Markup ? Markup.Of(x) : x)], true),
                    string or Markup => Markup.Of(b),
                    _ => b,
                };
                return new Markup(ev.Charge(PyFormat.Percent(fmt.Value, args)));
            }
            default:
                return null;
        }
    }

    private static PyException Unsupported(string op, object? a, object? b) =>
        new($"TypeError: unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");

    private static object Arith(object? a, object? b, string op, Func<long, long, long> ints, Func<double, double, double> floats)
    {
        if (!Py.IsNumber(a) || !Py.IsNumber(b))
            throw Unsupported(op, a, b);
        if (a is double || b is double)
            return floats(Py.ToDouble(a), Py.ToDouble(b));
        return ints(Py.AsLong(a), Py.AsLong(b));
    }

    private static object? Add(Evaluator ev, object? a, object? b)
    {
        if (a is string s && b is string t)
            return ev.Charge(s + t);
        if (a is PyList l && b is PyList m && l.IsTuple == m.IsTuple)
        {
            ev.CheckSize((long)l.Count + m.Count);
            return new PyList([.. l.Items, .. m.Items], l.IsTuple);
        }
        if (a is string || b is string)
        {
            if (a is string)
                throw new PyException($"TypeError: can only concatenate str (not \"{Py.TypeName(b)}\") to str");
            throw Unsupported("+", a, b);
        }
        if (a is PyList la && !la.IsTuple)
            throw new PyException($"TypeError: can only concatenate list (not \"{Py.TypeName(b)}\") to list");
        return Arith(a, b, "+", (x, y) => checked(x + y), (x, y) => x + y);
    }

    private static object? Mul(Evaluator ev, object? a, object? b)
    {
        if (a is string or PyList && Py.IsInt(b))
            return Repeat(ev, a, Py.AsLong(b));
        if (b is string or PyList && Py.IsInt(a))
            return Repeat(ev, b, Py.AsLong(a));
        return Arith(a, b, "*", (x, y) => checked(x * y), (x, y) => x * y);
    }

    private static object Repeat(Evaluator ev, object? seq, long n)
    {
        if (n < 0)
            n = 0;
        if (seq is string s)
        {
            ev.CheckSize(s.Length * n);
            return string.Concat(Enumerable.Repeat(s, (int)n));
        }
        var l = (PyList)seq!;
        ev.CheckSize(l.Count * n);
        var items = new List<object?>();
        for (long i = 0; i < n; i++)
            items.AddRange(l.Items);
        return new PyList(items, l.IsTuple);
    }

    private static long FloorDiv(long x, long y)
    {
        if (y == 0)
            throw new PyException("ZeroDivisionError: integer division or modulo by zero");
        long q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0)))
            q--;
        return q;
    }

    private static long Mod(long x, long y)
    {
        if (y == 0)
            throw new PyException("ZeroDivisionError: integer modulo by zero");
        long r = x % y;
        if (r != 0 && ((r < 0) != (y < 0)))
            r += y;
        return r;
    }

    private static double FMod(double x, double y)
    {
        if (y == 0)
            throw new PyException("ZeroDivisionError: float modulo");
        double r = Math.IEEERemainder(0, 1) + (x % y);
        if (r != 0 && ((r < 0) != (y < 0)))
            r += y;
        return r;
    }

    private static object Pow(object? a, object? b)
    {
        if (!Py.IsNumber(a) || !Py.IsNumber(b))
            throw Unsupported("** or pow()", a, b);
        if (Py.ToDouble(a) == 0 && Py.ToDouble(b) < 0)
            throw new PyException("ZeroDivisionError: 0.0 cannot be raised to a negative power");
        if (a is double || b is double || Py.AsLong(b) < 0)
            return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
        long x = Py.AsLong(a), e = Py.AsLong(b), r = 1;
        while (e > 0)
        {
            if ((e & 1) != 0)
                r = checked(r * x);
            e >>= 1;
            if (e > 0)
                x = checked(x * x);
        }
        return r;
    }
}
