namespace Fathom.Templates;

internal abstract class Node(int line, int column)
{
    public int Line { get; } = line;
    public int Column { get; } = column;
}

internal abstract class Expr(int line, int column) : Node(line, column)
{
    private int _hasSlice = -1;

    /// <summary>Constant folding state (0 unknown, 1 folded to <see cref="Folded"/>, 2 not constant); set once, shared by renders.</summary>
    public volatile int FoldState;
    public object? Folded;

    public bool HasSlice
    {
        get
        {
            if (_hasSlice < 0)
                _hasSlice = ComputeHasSlice() ? 1 : 0;
            return _hasSlice == 1;
        }
    }

    private bool ComputeHasSlice() => System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack() ? this switch
    {
        SliceExpr => true,
        ListExpr l => l.Items.Any(i => i.HasSlice),
        DictExpr d => d.Pairs.Any(p => p.Key.HasSlice || p.Value.HasSlice),
        AttrExpr a => a.Target.HasSlice,
        ItemExpr i => i.Target.HasSlice || i.Key.HasSlice,
        CallExpr c => c.Callee.HasSlice || ArgsHaveSlice(c.Args),
        FilterExpr f => (f.Target?.HasSlice ?? false) || ArgsHaveSlice(f.Args),
        TestExpr t => t.Target.HasSlice || ArgsHaveSlice(t.Args),
        UnaryExpr u => u.Operand.HasSlice,
        BinaryExpr b => b.Left.HasSlice || b.Right.HasSlice,
        CompareExpr c => c.First.HasSlice || c.Rest.Any(r => r.Operand.HasSlice),
        CondExpr c => c.Test.HasSlice || c.Then.HasSlice || (c.Otherwise?.HasSlice ?? false),
        _ => false,
    } : throw new InsufficientExecutionStackException();

    private static bool ArgsHaveSlice(CallArgs a) => a.Positional.Any(p => p.HasSlice) || a.Keywords.Any(k => k.Value.HasSlice)
        || (a.StarArgs?.HasSlice ?? false) || (a.StarKwargs?.HasSlice ?? false);
}

internal sealed class ConstExpr(int l, int c, object? value) : Expr(l, c)
{
    public object? Value { get; } = value;
}

internal sealed class NameExpr(int l, int c, string name) : Expr(l, c)
{
    public string Name { get; } = name;
}

internal sealed class ListExpr(int l, int c, Expr[] items, bool isTuple) : Expr(l, c)
{
    public Expr[] Items { get; } = items;
    public bool IsTuple { get; } = isTuple;
}

internal sealed class DictExpr(int l, int c, (Expr Key, Expr Value)[] pairs) : Expr(l, c)
{
    public (Expr Key, Expr Value)[] Pairs { get; } = pairs;
}

internal sealed class AttrExpr(int l, int c, Expr target, string name) : Expr(l, c)
{
    public Expr Target { get; } = target;
    public string Name { get; } = name;
}

internal sealed class ItemExpr(int l, int c, Expr target, Expr key) : Expr(l, c)
{
    public Expr Target { get; } = target;
    public Expr Key { get; } = key;
}

internal sealed class SliceExpr(int l, int c, Expr? start, Expr? stop, Expr? step) : Expr(l, c)
{
    public Expr? Start { get; } = start;
    public Expr? Stop { get; } = stop;
    public Expr? Step { get; } = step;
}

internal sealed class CallArgs(Expr[] positional, (string Name, Expr Value)[] keywords, Expr? starArgs, Expr? starKwargs)
{
    public static readonly CallArgs None = new([], [], null, null);
    public Expr[] Positional { get; } = positional;
    public (string Name, Expr Value)[] Keywords { get; } = keywords;
    public Expr? StarArgs { get; } = starArgs;
    public Expr? StarKwargs { get; } = starKwargs;
}

internal sealed class CallExpr(int l, int c, Expr callee, CallArgs args) : Expr(l, c)
{
    public Expr Callee { get; } = callee;
    public CallArgs Args { get; } = args;
}

/// <summary>`x | name(args)`; Target is null inside a filter block or block set, where the body is the input.</summary>
internal sealed class FilterExpr(int l, int c, Expr? target, string name, CallArgs args) : Expr(l, c)
{
    public Expr? Target { get; } = target;
    public string Name { get; } = name;
    public CallArgs Args { get; } = args;
}

internal sealed class TestExpr(int l, int c, Expr target, string name, CallArgs args) : Expr(l, c)
{
    public Expr Target { get; } = target;
    public string Name { get; } = name;
    public CallArgs Args { get; } = args;
}

internal sealed class UnaryExpr(int l, int c, string op, Expr operand) : Expr(l, c)
{
    public string Op { get; } = op;
    public Expr Operand { get; } = operand;
}

internal sealed class BinaryExpr(int l, int c, string op, Expr left, Expr right) : Expr(l, c)
{
    public string Op { get; } = op;
    public Expr Left { get; } = left;
    public Expr Right { get; } = right;
}

internal sealed class CompareExpr(int l, int c, Expr first, (string Op, Expr Operand)[] rest) : Expr(l, c)
{
    public Expr First { get; } = first;
    public (string Op, Expr Operand)[] Rest { get; } = rest;
}

internal sealed class CondExpr(int l, int c, Expr test, Expr then, Expr? otherwise) : Expr(l, c)
{
    public Expr Test { get; } = test;
    public Expr Then { get; } = then;
    public Expr? Otherwise { get; } = otherwise;
}

internal abstract class Stmt(int line, int column) : Node(line, column);

internal sealed class TextStmt(int l, int c, string text) : Stmt(l, c)
{
    public string Text { get; } = text;
}

internal sealed class PrintStmt(int l, int c, Expr value, bool hasSlice) : Stmt(l, c)
{
    public Expr Value { get; } = value;

    /// <summary>The expression slices something, so compile-time folding could change its result.</summary>
    public bool HasSlice { get; } = hasSlice;
}

/// <summary>An assignment target: a name, `ns.attr`, or a tuple of targets.</summary>
internal sealed class Target(int l, int c, string? name, string? attr, Target[]? items) : Node(l, c)
{
    public string? Name { get; } = name;
    public string? Attr { get; } = attr;
    public Target[]? Items { get; } = items;
}

internal sealed class ForStmt(int l, int c, Target target, Expr iter, Expr? filter, bool recursive, Stmt[] body, Stmt[] orElse) : Stmt(l, c)
{
    public Target Target { get; } = target;
    public Expr Iter { get; } = iter;
    public Expr? Filter { get; } = filter;
    public bool Recursive { get; } = recursive;
    public Stmt[] Body { get; } = body;
    public Stmt[] Else { get; } = orElse;
}

/// <summary>`if` with its `elif` branches flattened (a long chain must not nest), then `else`.</summary>
internal sealed class IfStmt(int l, int c, Expr[] tests, Stmt[][] bodies, Stmt[] orElse) : Stmt(l, c)
{
    public Expr[] Tests { get; } = tests;
    public Stmt[][] Bodies { get; } = bodies;
    public Stmt[] Else { get; } = orElse;
}

internal sealed class SetStmt(int l, int c, Target target, Expr value) : Stmt(l, c)
{
    public Target Target { get; } = target;
    public Expr Value { get; } = value;
}

internal sealed class SetBlockStmt(int l, int c, Target target, FilterExpr? filter, Stmt[] body) : Stmt(l, c)
{
    public Target Target { get; } = target;
    public FilterExpr? Filter { get; } = filter;
    public Stmt[] Body { get; } = body;
}

internal sealed class MacroStmt(int l, int c, string name, string[] parameters, Expr?[] defaults, Stmt[] body) : Stmt(l, c)
{
    public string Name { get; } = name;
    public string[] Parameters { get; } = parameters;
    public Expr?[] Defaults { get; } = defaults;
    public Stmt[] Body { get; } = body;
    public HashSet<string> Referenced { get; } = [];
}

internal sealed class CallBlockStmt(int l, int c, CallExpr call, MacroStmt caller) : Stmt(l, c)
{
    public CallExpr Call { get; } = call;
    public MacroStmt Caller { get; } = caller;
}

internal sealed class FilterBlockStmt(int l, int c, FilterExpr filter, Stmt[] body) : Stmt(l, c)
{
    public FilterExpr Filter { get; } = filter;
    public Stmt[] Body { get; } = body;
}

internal sealed class WithStmt(int l, int c, Target[] targets, Expr[] values, Stmt[] body) : Stmt(l, c)
{
    public Target[] Targets { get; } = targets;
    public Expr[] Values { get; } = values;
    public Stmt[] Body { get; } = body;
}

/// <summary>transformers' `{% generation %}` block: marks assistant tokens for training masks; renders its body unchanged.</summary>
internal sealed class GenerationStmt(int l, int c, Stmt[] body) : Stmt(l, c)
{
    public Stmt[] Body { get; } = body;
}

internal sealed class LoopControlStmt(int l, int c, bool isBreak) : Stmt(l, c)
{
    public bool IsBreak { get; } = isBreak;
}
