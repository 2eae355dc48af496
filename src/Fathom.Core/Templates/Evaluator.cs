using System.Runtime.CompilerServices;
using System.Text;

namespace Fathom.Templates;

internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (Scope? s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out value))
                return true;
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _vars[name] = value;
}

internal enum Flow
{
    Normal,
    Break,
    Continue,
}

/// <summary>A template macro (or the body of a call block, bound as `caller`).</summary>
internal sealed class Macro(MacroStmt def, Scope closure) : PyCallable
{
    public MacroStmt Def { get; } = def;
    public Scope Closure { get; } = closure;
    public override string Name => Def.Name;

    public override object? Call(Evaluator ev, List<object?> args, List<KeyValuePair<string, object?>> kwargs) =>
        ev.CallMacro(this, args, kwargs);
}

/// <summary>The `loop` variable inside a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int depth, ForStmt? recursiveLoop, Scope? recursiveScope) : PyCallable
{
    private object? _lastChanged = Undefined.Instance;

    public IReadOnlyList<object?> Items { get; } = items;
    public int Index0 { get; set; }
    public int Depth { get; } = depth;
    public override string Name => "loop";

    public object? Attr(string name)
    {
        int n = Items.Count;
        return name switch
        {
            "index" => (long)Index0 + 1,
            "index0" => (long)Index0,
            "revindex" => (long)(n - Index0),
            "revindex0" => (long)(n - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == n - 1,
            "length" => (long)n,
            "depth" => (long)Depth,
            "depth0" => (long)Depth - 1,
            "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item", "previtem", false),
            "nextitem" => Index0 + 1 < n ? Items[Index0 + 1] : new Undefined("there is no next item", "nextitem", false),
            "cycle" => new BuiltinFunction("cycle", (_, a, _) =>
                a.Count == 0 ? throw new PyException("TypeError: no items for cycling given") : a[Index0 % a.Count]),
            "changed" => new BuiltinFunction("changed", (_, a, _) =>
            {
                var value = new PyList([.. a]);
                if (_lastChanged is PyList prev && Py.Eq(prev, value))
                    return false;
                _lastChanged = value;
                return true;
            }),
            _ => Undefined.NoAttribute(this, name),
        };
    }

    public override object? Call(Evaluator ev, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        if (recursiveLoop is null)
            throw new PyException("TypeError: Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
        if (args.Count != 1)
            throw new PyException("TypeError: loop() takes exactly one argument");
        return ev.RunRecursiveLoop(recursiveLoop, recursiveScope!, args[0], Depth + 1);
    }
}

/// <summary>Tree-walking evaluator with Jinja2's scoping (loop bodies and macros get their own scope; if does not).</summary>
internal sealed class Evaluator
{
    private readonly TemplateLimits _limits;
    private StringBuilder _out = new();
    private long _steps;
    private long _iterations;
    private int _callDepth;
    private bool _constMode;

    public Evaluator(TemplateLimits limits, DateTime now)
    {
        _limits = limits;
        Now = now;
    }

    public DateTime Now { get; }
    public int Line { get; private set; }
    public int Column { get; private set; }
    public TemplateLimits Limits => _limits;

    public string Render(Stmt[] body, Scope scope)
    {
        Exec(body, scope);
        return _out.ToString();
    }

    private void At(Node n)
    {
        Line = n.Line;
        Column = n.Column;
        if (++_steps > _limits.MaxSteps)
            throw new PyException($"ResourceError: template exceeded {_limits.MaxSteps} evaluation steps");
    }

    /// <summary>Charges string building to the step budget and enforces the string size bound.</summary>
    public string Charge(string s)
    {
        if (s.Length > _limits.MaxOutputChars)
            throw new PyException($"ResourceError: string of {s.Length} chars exceeds the limit of {_limits.MaxOutputChars}");
        _steps += s.Length >> 4;
        if (_steps > _limits.MaxSteps)
            throw new PyException($"ResourceError: template exceeded {_limits.MaxSteps} evaluation steps");
        return s;
    }

    public void CheckSize(long chars)
    {
        if (chars > _limits.MaxOutputChars)
            throw new PyException($"ResourceError: value of {chars} elements exceeds the limit of {_limits.MaxOutputChars}");
        _steps += chars >> 4;
    }

    private void Write(string s)
    {
        if (_out.Length + (long)s.Length > _limits.MaxOutputChars)
            throw new PyException($"ResourceError: output exceeds the limit of {_limits.MaxOutputChars} chars");
        _steps += s.Length >> 4;
        _out.Append(s);
    }

    private string Capture(Stmt[] body, Scope scope)
    {
        StringBuilder saved = _out;
        _out = new StringBuilder();
        try
        {
            Exec(body, scope);
            return _out.ToString();
        }
        finally
        {
            _out = saved;
        }
    }

    private static void EnsureStack()
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new PyException("RecursionError: template nesting too deep");
    }

    public Flow Exec(Stmt[] body, Scope scope)
    {
        foreach (Stmt s in body)
        {
            Flow f = Exec(s, scope);
            if (f != Flow.Normal)
                return f;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt s, Scope scope)
    {
        EnsureStack();
        At(s);
        switch (s)
        {
            case TextStmt t:
                Write(t.Text);
                return Flow.Normal;
            case PrintStmt p:
                Write(Py.Str(p.HasSlice && TryEvalConstant(p.Value, scope, out object? folded) ? folded : Eval(p.Value, scope)));
                return Flow.Normal;
            case IfStmt i:
                for (int k = 0; k < i.Tests.Length; k++)
                {
                    if (Py.Truthy(Eval(i.Tests[k], scope)))
                        return Exec(i.Bodies[k], scope);
                }
                return Exec(i.Else, scope);
            case ForStmt f:
                RunLoop(f, scope, Eval(f.Iter, scope), 1);
                return Flow.Normal;
            case SetStmt set:
                Assign(set.Target, Eval(set.Value, scope), scope);
                return Flow.Normal;
            case SetBlockStmt sb:
            {
                object? value = Capture(sb.Body, new Scope(scope));
                if (sb.Filter is not null)
                    value = ApplyFilterChain(sb.Filter, value, scope);
                Assign(sb.Target, value, scope);
                return Flow.Normal;
            }
            case MacroStmt m:
                scope.Set(m.Name, new Macro(m, scope));
                return Flow.Normal;
            case CallBlockStmt cb:
            {
                var caller = new Macro(cb.Caller, scope);
                object? callee = Eval(cb.Call.Callee, scope);
                var (args, kwargs) = EvalArgs(cb.Call.Args, scope);
                kwargs.Add(new("caller", caller));
                At(cb);
                Write(Py.Str(Invoke(callee, args, kwargs)));
                return Flow.Normal;
            }
            case GenerationStmt g:
                Write(Capture(g.Body, new Scope(scope)));
                return Flow.Normal;
            case FilterBlockStmt fb:
            {
                string body = Capture(fb.Body, new Scope(scope));
                Write(Py.Str(ApplyFilterChain(fb.Filter, body, scope)));
                return Flow.Normal;
            }
            case WithStmt w:
            {
                var inner = new Scope(scope);
                for (int k = 0; k < w.Targets.Length; k++)
                    Assign(w.Targets[k], Eval(w.Values[k], scope), inner);
                return Exec(w.Body, inner);
            }
            case LoopControlStmt lc:
                return lc.IsBreak ? Flow.Break : Flow.Continue;
            default:
                throw new PyException($"unsupported statement {s.GetType().Name}");
        }
    }

    // Jinja evaluates a `{{ }}` whose value needs no variables at compile time, through the sandbox's lenient
    // getitem: there a slice of a non-sequence is undefined, while at run time it is a TypeError.
    private bool TryEvalConstant(Expr e, Scope scope, out object? value)
    {
        _constMode = true;
        try
        {
            value = Eval(e, scope);
            return true;
        }
        catch (PyException)
        {
            value = null;
            return false;
        }
        finally
        {
            _constMode = false;
        }
    }

    private static bool IsSafeConstant(object? v, int depth) => depth < 50 && v switch
    {
        null or bool or long or double or string or Markup or System.Numerics.BigInteger => true,
        PyList l => l.Items.All(x => IsSafeConstant(x, depth + 1)),
        PyDict d => d.Map.All(kv => IsSafeConstant(PyDict.Unkey(kv.Key), depth + 1) && IsSafeConstant(kv.Value, depth + 1)),
        _ => false,
    };

    private object? ApplyFilterChain(FilterExpr f, object? input, Scope scope)
    {
        object? value = f.Target is FilterExpr inner ? ApplyFilterChain(inner, input, scope) : input;
        var (args, kwargs) = EvalArgs(f.Args, scope);
        At(f);
        return Filters.Apply(this, f.Name, value, args, kwargs);
    }

    private void Assign(Target t, object? value, Scope scope)
    {
        if (t.Items is not null)
        {
            IReadOnlyList<object?> values = Py.Iterate(value);
            if (values.Count != t.Items.Length)
                throw new PyException(values.Count > t.Items.Length
                    ? $"ValueError: too many values to unpack (expected {t.Items.Length})"
                    : $"ValueError: not enough values to unpack (expected {t.Items.Length}, got {values.Count})");
            for (int i = 0; i < values.Count; i++)
                Assign(t.Items[i], values[i], scope);
            return;
        }
        if (t.Attr is not null)
        {
            if (!scope.TryGet(t.Name!, out object? target) || target is not Namespace ns)
                throw new PyException("TemplateRuntimeError: cannot assign attribute on non-namespace object");
            ns.Attrs[t.Attr] = value;
            return;
        }
        scope.Set(t.Name!, value);
    }

    private void RunLoop(ForStmt f, Scope scope, object? iterable, int depth)
    {
        IReadOnlyList<object?> source = Py.Iterate(iterable);
        List<object?> items;
        if (f.Filter is null)
            items = [.. source];
        else
        {
            items = [];
            foreach (object? item in source)
            {
                CountIteration();
                var probe = new Scope(scope);
                Assign(f.Target, item, probe);
                if (Py.Truthy(Eval(f.Filter, probe)))
                    items.Add(item);
            }
        }
        if (items.Count == 0)
        {
            Exec(f.Else, scope);
            return;
        }
        var loop = new LoopContext(items, depth, f.Recursive ? f : null, f.Recursive ? scope : null);
        for (int i = 0; i < items.Count; i++)
        {
            CountIteration();
            loop.Index0 = i;
            var iter = new Scope(scope);
            Assign(f.Target, items[i], iter);
            iter.Set("loop", loop);
            if (Exec(f.Body, iter) == Flow.Break)
                break;
        }
    }

    public string RunRecursiveLoop(ForStmt f, Scope scope, object? iterable, int depth)
    {
        EnterCall();
        try
        {
            StringBuilder saved = _out;
            _out = new StringBuilder();
            try
            {
                RunLoop(f, scope, iterable, depth);
                return _out.ToString();
            }
            finally
            {
                _out = saved;
            }
        }
        finally
        {
            _callDepth--;
        }
    }

    public void CountIteration()
    {
        if (++_iterations > _limits.MaxLoopIterations)
            throw new PyException($"ResourceError: template exceeded {_limits.MaxLoopIterations} loop iterations");
    }

    private void EnterCall()
    {
        if (++_callDepth > _limits.MaxCallDepth)
        {
            _callDepth--;
            throw new PyException($"RecursionError: macro calls nested deeper than {_limits.MaxCallDepth}");
        }
        EnsureStack();
    }

    public object? CallMacro(Macro m, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        MacroStmt def = m.Def;
        EnterCall();
        try
        {
            var scope = new Scope(m.Closure);
            var extraKw = new PyDict();
            var kw = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (k, v) in kwargs)
            {
                if (kw.ContainsKey(k))
                    throw new PyException($"TypeError: macro '{def.Name}' got multiple values for argument '{k}'");
                kw[k] = v;
            }
            for (int i = 0; i < def.Parameters.Length; i++)
            {
                string p = def.Parameters[i];
                if (i < args.Count)
                {
                    if (kw.ContainsKey(p))
                        throw new PyException($"TypeError: macro '{def.Name}' got multiple values for argument '{p}'");
                    scope.Set(p, args[i]);
                }
                else if (kw.Remove(p, out object? v))
                    scope.Set(p, v);
                else if (def.Defaults[i] is { } d)
                    scope.Set(p, Eval(d, scope));
                else
                    scope.Set(p, new Undefined($"parameter '{p}' was not provided", p, false));
            }
            if (kw.Remove("caller", out object? caller))
                scope.Set("caller", caller);
            else if (def.Referenced.Contains("caller"))
                scope.Set("caller", new Undefined("No caller defined", "caller", false));
            foreach (var (k, v) in kw)
            {
                if (!def.Referenced.Contains("kwargs"))
                    throw new PyException($"TypeError: macro '{def.Name}' takes no keyword argument '{k}'");
                extraKw.Set(k, v);
            }
            var varargs = new PyList();
            for (int i = def.Parameters.Length; i < args.Count; i++)
                varargs.Items.Add(args[i]);
            if (varargs.Count > 0 && !def.Referenced.Contains("varargs"))
                throw new PyException($"TypeError: macro '{def.Name}' takes not more than {def.Parameters.Length} argument(s)");
            scope.Set("varargs", new PyList(varargs.Items, isTuple: true));
            scope.Set("kwargs", extraKw);
            return Capture(def.Body, scope);
        }
        finally
        {
            _callDepth--;
        }
    }

    public object? Eval(Expr e, Scope scope)
    {
        EnsureStack();
        if (!_constMode && e.HasSlice && e is not SliceExpr)
        {
            // Jinja's optimizer folds a constant subexpression when its value has a safe repr (not Undefined).
            if (e.FoldState == 0)
            {
                bool folded = TryEvalConstant(e, scope, out object? value) && IsSafeConstant(value, 0);
                e.Folded = folded ? value : null;
                e.FoldState = folded ? 1 : 2;
            }
            if (e.FoldState == 1)
                return e.Folded;
        }
        At(e);
        switch (e)
        {
            case ConstExpr c:
                return c.Value;
            case NameExpr n:
                if (_constMode)
                    throw new PyException("not constant");
                return scope.TryGet(n.Name, out object? v) ? v : Undefined.Missing(n.Name);
            case ListExpr l:
            {
                var items = new List<object?>(l.Items.Length);
                foreach (Expr item in l.Items)
                    items.Add(Eval(item, scope));
                return new PyList(items, l.IsTuple);
            }
            case DictExpr d:
            {
                var dict = new PyDict();
                foreach (var (k, val) in d.Pairs)
                {
                    object? key = Eval(k, scope);
                    dict.Set(key, Eval(val, scope));
                }
                return dict;
            }
            case AttrExpr a:
            {
                object? target = Eval(a.Target, scope);
                At(a);
                return GetAttr(target, a.Name);
            }
            case ItemExpr it:
            {
                object? target = Eval(it.Target, scope);
                if (it.Key is SliceExpr sl)
                {
                    object? start = sl.Start is null ? null : Eval(sl.Start, scope);
                    object? stop = sl.Stop is null ? null : Eval(sl.Stop, scope);
                    object? step = sl.Step is null ? null : Eval(sl.Step, scope);
                    At(it);
                    if (_constMode && target is not (PyList or string or Markup or Undefined))
                        return new Undefined($"{Py.TypeDescription(target)} has no element", null, false);
                    return Slice(target, start, stop, step);
                }
                object? key = Eval(it.Key, scope);
                At(it);
                return GetItem(target, key);
            }
            case CallExpr call:
            {
                if (_constMode)
                    throw new PyException("not constant");
                object? callee = Eval(call.Callee, scope);
                var (args, kwargs) = EvalArgs(call.Args, scope);
                At(call);
                return Invoke(callee, args, kwargs);
            }
            case FilterExpr f:
            {
                if (_constMode && f.Name is "map" or "select" or "reject" or "selectattr" or "rejectattr" or "random")
                    throw new PyException("not constant");
                object? value = f.Target is null ? null : Eval(f.Target, scope);
                var (args, kwargs) = EvalArgs(f.Args, scope);
                At(f);
                return Filters.Apply(this, f.Name, value, args, kwargs);
            }
            case TestExpr t:
            {
                object? value = Eval(t.Target, scope);
                var (args, kwargs) = EvalArgs(t.Args, scope);
                At(t);
                return Tests.Apply(this, t.Name, value, args, kwargs);
            }
            case UnaryExpr u:
            {
                object? value = Eval(u.Operand, scope);
                At(u);
                return u.Op switch
                {
                    "not" => !Py.Truthy(value),
                    "-" => value switch
                    {
                        long l => (object)checked(-l),
                        double d => -d,
                        bool b => b ? -1L : 0L,
                        Undefined und => throw und.Fail(),
                        _ => throw new PyException($"TypeError: bad operand type for unary -: '{Py.TypeName(value)}'"),
                    },
                    _ => value switch
                    {
                        long or double => value,
                        bool b => (object)(b ? 1L : 0L),
                        Undefined und => throw und.Fail(),
                        _ => throw new PyException($"TypeError: bad operand type for unary +: '{Py.TypeName(value)}'"),
                    },
                };
            }
            case BinaryExpr b:
                return EvalBinary(b, scope);
            case CompareExpr cmp:
            {
                object? left = Eval(cmp.First, scope);
                foreach (var (op, operandExpr) in cmp.Rest)
                {
                    object? right = Eval(operandExpr, scope);
                    At(cmp);
                    bool ok = op switch
                    {
                        "==" => Py.Eq(left, right),
                        "!=" => !Py.Eq(left, right),
                        "<" => Py.Compare(left, right, op) < 0,
                        "<=" => Py.Compare(left, right, op) <= 0,
                        ">" => Py.Compare(left, right, op) > 0,
                        ">=" => Py.Compare(left, right, op) >= 0,
                        "in" => Py.Contains(right, left),
                        _ => !Py.Contains(right, left),
                    };
                    if (!ok)
                        return false;
                    left = right;
                }
                return true;
            }
            case CondExpr ce:
                if (Py.Truthy(Eval(ce.Test, scope)))
                    return Eval(ce.Then, scope);
                return ce.Otherwise is null ? new Undefined("the inline if-expression evaluated to false and no else section was defined.", null, false) : Eval(ce.Otherwise, scope);
            default:
                throw new PyException($"unsupported expression {e.GetType().Name}");
        }
    }

    private object? EvalBinary(BinaryExpr b, Scope scope)
    {
        object? left = Eval(b.Left, scope);
        switch (b.Op)
        {
            case "and":
                return Py.Truthy(left) ? Eval(b.Right, scope) : left;
            case "or":
                return Py.Truthy(left) ? left : Eval(b.Right, scope);
        }
        object? right = Eval(b.Right, scope);
        At(b);
        return Operators.Binary(this, b.Op, left, right);
    }

    public (List<object?> Args, List<KeyValuePair<string, object?>> Kwargs) EvalArgs(CallArgs a, Scope scope)
    {
        var args = new List<object?>(a.Positional.Length);
        foreach (Expr p in a.Positional)
            args.Add(Eval(p, scope));
        if (a.StarArgs is not null)
            args.AddRange(Py.Iterate(Eval(a.StarArgs, scope)));
        var kwargs = new List<KeyValuePair<string, object?>>(a.Keywords.Length);
        foreach (var (name, value) in a.Keywords)
            kwargs.Add(new(name, Eval(value, scope)));
        if (a.StarKwargs is not null)
        {
            if (Eval(a.StarKwargs, scope) is not PyDict d)
                throw new PyException("TypeError: argument after ** must be a mapping");
            foreach (var kv in d.Map)
                kwargs.Add(new(PyDict.Unkey(kv.Key) as string ?? throw new PyException("TypeError: keywords must be strings"), kv.Value));
        }
        return (args, kwargs);
    }

    public object? Invoke(object? callee, List<object?> args, List<KeyValuePair<string, object?>> kwargs) => callee switch
    {
        PyCallable c => c.Call(this, args, kwargs),
        Undefined u => throw u.Fail(),
        _ => throw new PyException($"TypeError: '{Py.TypeName(callee)}' object is not callable"),
    };

    public object? GetAttr(object? obj, string name)
    {
        if (obj is Markup mk)
            return Methods.IsMethod(mk.Value, name) ? new BoundMethod(obj, name) : Undefined.NoAttribute(obj, name);
        switch (obj)
        {
            case Undefined u:
                throw u.Fail();
            case PyDict d:
                if (Methods.IsMethod(d, name))
                    return Methods.Bind(d, name);
                return d.TryGet(name, out object? v) ? v : Undefined.NoAttribute(obj, name);
            case Namespace ns:
                return ns.Attrs.TryGetValue(name, out object? nv) ? nv : Undefined.NoAttribute(obj, name);
            case LoopContext loop:
                return loop.Attr(name);
            default:
                return Methods.IsMethod(obj, name) ? Methods.Bind(obj, name) : Undefined.NoAttribute(obj, name);
        }
    }

    public object? GetItem(object? obj, object? key)
    {
        obj = Py.Plain(obj);
        key = Py.Plain(key);
        switch (obj)
        {
            case Undefined u:
                throw u.Fail();
            case PyDict d:
                if (key is PyList { IsTuple: false } or PyDict)
                    break;
                if (d.TryGet(key, out object? v))
                    return v;
                break;
            case PyList l when Py.IsInt(key):
            {
                long i = Py.AsLong(key);
                if (i < 0)
                    i += l.Count;
                if (i >= 0 && i < l.Count)
                    return l[(int)i];
                return Undefined.NoItem(obj, key);
            }
            case string s when Py.IsInt(key):
            {
                long i = Py.AsLong(key);
                List<object?> cps = PyStr.HasSurrogates(s) ? PyStr.CodePoints(s) : [];
                int n = cps.Count > 0 ? cps.Count : s.Length;
                if (i < 0)
                    i += n;
                if (i >= 0 && i < n)
                    return cps.Count > 0 ? cps[(int)i] : s[(int)i].ToString();
                return Undefined.NoItem(obj, key);
            }
            case Namespace ns when key is string k:
                if (ns.Attrs.TryGetValue(k, out object? nv))
                    return nv;
                return Undefined.NoItem(obj, key);
            case LoopContext loop when key is string lk:
                return loop.Attr(lk);
        }
        if (key is string name && obj is not Namespace)
            return Methods.IsMethod(obj, name) ? Methods.Bind(obj, name) : Undefined.NoItem(obj, key);
        return Undefined.NoItem(obj, key);
    }

    private static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        obj = Py.Plain(obj);
        if (obj is Undefined u)
            throw u.Fail();
        long? Idx(object? x) => x switch
        {
            null => null,
            long or bool => Py.AsLong(x),
            Undefined ud => throw ud.Fail(),
            _ => throw new PyException("TypeError: slice indices must be integers or None or have an __index__ method"),
        };
        long? a = Idx(start), b = Idx(stop), c = Idx(step);
        if (c == 0)
            throw new PyException("ValueError: slice step cannot be zero");
        switch (obj)
        {
            case PyList l:
                return new PyList(SliceList(l.Items, a, b, c ?? 1), l.IsTuple);
            case string s:
            {
                IReadOnlyList<object?> cps = PyStr.HasSurrogates(s) ? PyStr.CodePoints(s) : null!;
                if (cps is null && (c ?? 1) == 1)
                {
                    var (lo, hi) = Bounds(s.Length, a, b);
                    return hi > lo ? s[(int)lo..(int)hi] : "";
                }
                cps ??= PyStr.CodePoints(s);
                var sb = new StringBuilder();
                foreach (object? ch in SliceList(cps, a, b, c ?? 1))
                    sb.Append((string)ch!);
                return sb.ToString();
            }
            case PyDict:
                // Jinja subscripts slices directly, so a dict fails like Python 3.11 does.
                throw new PyException("TypeError: unhashable type: 'slice'");
            default:
                throw new PyException($"TypeError: '{Py.TypeName(obj)}' object is not subscriptable");
        }
    }

    private static (long Lo, long Hi) Bounds(int n, long? a, long? b)
    {
        long lo = a ?? 0, hi = b ?? n;
        if (lo < 0) lo = Math.Max(0, lo + n);
        if (hi < 0) hi = Math.Max(0, hi + n);
        return (Math.Min(lo, n), Math.Min(hi, n));
    }

    private static List<object?> SliceList(IReadOnlyList<object?> items, long? a, long? b, long step)
    {
        int n = items.Count;
        var result = new List<object?>();
        if (step > 0)
        {
            var (lo, hi) = Bounds(n, a, b);
            for (long i = lo; i < hi; i += step)
                result.Add(items[(int)i]);
        }
        else
        {
            long lo = a is null ? n - 1 : a.Value < 0 ? Math.Max(a.Value + n, -1) : Math.Min(a.Value, n - 1);
            long hi = b is null ? -1 : b.Value < 0 ? Math.Max(b.Value + n, -1) : Math.Min(b.Value, n - 1);
            for (long i = lo; i > hi; i += step)
                result.Add(items[(int)i]);
        }
        return result;
    }
}
