namespace Fathom.Templates;

/// <summary>Recursive-descent parser with Jinja2's grammar and operator precedence.</summary>
internal sealed class Parser
{
    private const int MaxNesting = 200;
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    private readonly List<Token> _tokens;
    private int _i;
    private int _depth;
    private int _loopDepth;
    private int _macroDepth;
    private int _slices;

    private Parser(List<Token> tokens) => _tokens = tokens;

    public static Stmt[] Parse(string source)
    {
        var parser = new Parser(Lexer.Tokenize(source));
        try
        {
            Stmt[] body = parser.SubParse(null);
            if (parser.Current.Kind != TokenKind.Eof)
                throw parser.Error($"unexpected '{parser.Current.Describe()}'");
            return body;
        }
        catch (InsufficientExecutionStackException)
        {
            throw parser.Error("template nesting too deep");
        }
    }

    private Token Current => _tokens[_i];
    private Token Peek => _tokens[Math.Min(_i + 1, _tokens.Count - 1)];

    private Token Next()
    {
        Token t = _tokens[_i];
        if (_i < _tokens.Count - 1)
            _i++;
        return t;
    }

    private TemplateSyntaxException Error(string reason, Token? at = null)
    {
        Token t = at ?? Current;
        return new TemplateSyntaxException(reason, t.Line, t.Column);
    }

    private Token Expect(TokenKind kind, string? text = null)
    {
        Token t = Current;
        if (t.Kind == kind && (text is null || t.Text == text))
            return Next();
        string what = text ?? kind switch
        {
            TokenKind.BlockEnd => "end of statement block",
            TokenKind.VarEnd => "end of print statement",
            TokenKind.Name => "name",
            _ => kind.ToString().ToLowerInvariant(),
        };
        if (t.Kind == TokenKind.Eof)
            throw Error($"unexpected end of template, expected '{what}'.");
        throw Error($"expected token '{what}', got '{t.Describe()}'");
    }

    private bool SkipOp(string op)
    {
        if (!Current.IsOp(op))
            return false;
        Next();
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name))
            return false;
        Next();
        return true;
    }

    private void Enter()
    {
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        if (++_depth > MaxNesting)
            throw Error($"template nesting deeper than {MaxNesting} levels");
    }

    private Stmt[] SubParse(string[]? endTokens)
    {
        var body = new List<Stmt>();
        while (Current.Kind != TokenKind.Eof)
        {
            Token t = Current;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    Next();
                    body.Add(new TextStmt(t.Line, t.Column, t.Text));
                    break;
                case TokenKind.VarBegin:
                    Next();
                    int slicesBefore = _slices;
                    body.Add(new PrintStmt(t.Line, t.Column, ParseTuple(false, true, null, false), _slices != slicesBefore));
                    Expect(TokenKind.VarEnd);
                    break;
                case TokenKind.BlockBegin:
                    Next();
                    if (endTokens is not null && Current.Kind == TokenKind.Name && endTokens.Contains(Current.Text))
                        return [.. body];
                    body.Add(ParseStatement(endTokens));
                    Expect(TokenKind.BlockEnd);
                    break;
                default:
                    throw Error($"unexpected '{t.Describe()}'");
            }
        }
        if (endTokens is not null)
            throw Error($"Unexpected end of template. Jinja was looking for the following tags: {string.Join(" or ", endTokens.Select(e => $"'{e}'"))}.");
        return [.. body];
    }

    private Stmt[] ParseStatements(string[] endTokens, bool dropNeedle)
    {
        SkipOp(":");
        Expect(TokenKind.BlockEnd);
        Stmt[] result = SubParse(endTokens);
        if (dropNeedle)
            Next();
        return result;
    }

    private Stmt ParseStatement(string[]? endTokens)
    {
        Token t = Current;
        if (t.Kind != TokenKind.Name)
            throw Error("tag name expected");
        Enter();
        try
        {
            switch (t.Text)
            {
                case "for": return ParseFor();
                case "if": return ParseIf();
                case "set": return ParseSet();
                case "macro": return ParseMacro();
                case "call": return ParseCallBlock();
                case "filter": return ParseFilterBlock();
                case "with": return ParseWith();
                case "generation":
                {
                    Next();
                    int savedLoop = _loopDepth;
                    _loopDepth = 0;
                    Stmt[] body = ParseStatements(["endgeneration"], true);
                    _loopDepth = savedLoop;
                    return new GenerationStmt(t.Line, t.Column, body);
                }
                case "break" or "continue":
                    Next();
                    if (_loopDepth == 0)
                        throw Error($"'{t.Text}' outside loop", t);
                    return new LoopControlStmt(t.Line, t.Column, t.Text == "break");
                default:
                    string msg = $"Encountered unknown tag '{t.Text}'.";
                    if (endTokens is not null)
                        msg += $" Jinja was looking for the following tags: {string.Join(" or ", endTokens.Select(e => $"'{e}'"))}.";
                    throw Error(msg);
            }
        }
        finally
        {
            _depth--;
        }
    }

    private ForStmt ParseFor()
    {
        Token at = Next();
        Target target = ParseAssignTarget(withTuple: true, withNamespace: false, extraEnd: "in");
        Expect(TokenKind.Name, "in");
        Expr iter = ParseTuple(false, false, "recursive", false);
        Expr? filter = null;
        if (SkipName("if"))
            filter = ParseExpression(true);
        bool recursive = SkipName("recursive");
        _loopDepth++;
        Stmt[] body = ParseStatements(["endfor", "else"], false);
        _loopDepth--;
        Stmt[] orElse = [];
        if (Next().Text != "endfor")
            orElse = ParseStatements(["endfor"], true);
        return new ForStmt(at.Line, at.Column, target, iter, filter, recursive, body, orElse);
    }

    private IfStmt ParseIf()
    {
        Token at = Next();
        var tests = new List<Expr>();
        var bodies = new List<Stmt[]>();
        Stmt[] orElse = [];
        while (true)
        {
            tests.Add(ParseTuple(false, false, null, false));
            bodies.Add(ParseStatements(["elif", "else", "endif"], false));
            Token t = Next();
            if (t.Text == "elif")
                continue;
            if (t.Text == "else")
                orElse = ParseStatements(["endif"], true);
            break;
        }
        return new IfStmt(at.Line, at.Column, [.. tests], [.. bodies], orElse);
    }

    private Stmt ParseSet()
    {
        Token at = Next();
        Target target = ParseAssignTarget(withTuple: true, withNamespace: true, extraEnd: null);
        if (SkipOp("="))
            return new SetStmt(at.Line, at.Column, target, ParseTuple(false, true, null, false));
        FilterExpr? filter = ParseFilter(null, startInline: false) as FilterExpr;
        Stmt[] body = ParseStatements(["endset"], true);
        return new SetBlockStmt(at.Line, at.Column, target, filter, body);
    }

    private MacroStmt ParseMacro()
    {
        Token at = Next();
        string name = Expect(TokenKind.Name).Text;
        var (names, defaults) = ParseSignature();
        _macroDepth++;
        int savedLoop = _loopDepth;
        _loopDepth = 0;
        Stmt[] body = ParseStatements(["endmacro"], true);
        _loopDepth = savedLoop;
        _macroDepth--;
        var macro = new MacroStmt(at.Line, at.Column, name, names, defaults, body);
        CollectNames(body, macro.Referenced);
        return macro;
    }

    private (string[] Names, Expr?[] Defaults) ParseSignature()
    {
        Expect(TokenKind.Operator, "(");
        var names = new List<string>();
        var defaults = new List<Expr?>();
        bool sawDefault = false;
        while (!Current.IsOp(")"))
        {
            if (names.Count > 0)
                Expect(TokenKind.Operator, ",");
            string n = Expect(TokenKind.Name).Text;
            if (SkipOp("="))
            {
                defaults.Add(ParseExpression(true));
                sawDefault = true;
            }
            else if (sawDefault)
                throw Error("non-default argument follows default argument");
            else
                defaults.Add(null);
            names.Add(n);
        }
        Expect(TokenKind.Operator, ")");
        return ([.. names], [.. defaults]);
    }

    private CallBlockStmt ParseCallBlock()
    {
        Token at = Next();
        string[] names = [];
        Expr?[] defaults = [];
        if (Current.IsOp("("))
            (names, defaults) = ParseSignature();
        if (ParseExpression(true) is not CallExpr call)
            throw Error("expected call", at);
        int savedLoop = _loopDepth;
        _loopDepth = 0;
        Stmt[] body = ParseStatements(["endcall"], true);
        _loopDepth = savedLoop;
        var caller = new MacroStmt(at.Line, at.Column, "caller", names, defaults, body);
        CollectNames(body, caller.Referenced);
        return new CallBlockStmt(at.Line, at.Column, call, caller);
    }

    private FilterBlockStmt ParseFilterBlock()
    {
        Token at = Next();
        var filter = (FilterExpr)ParseFilter(null, startInline: true)!;
        Stmt[] body = ParseStatements(["endfilter"], true);
        return new FilterBlockStmt(at.Line, at.Column, filter, body);
    }

    private WithStmt ParseWith()
    {
        Token at = Next();
        var targets = new List<Target>();
        var values = new List<Expr>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (targets.Count > 0)
                Expect(TokenKind.Operator, ",");
            targets.Add(ParseAssignTarget(withTuple: true, withNamespace: false, extraEnd: null));
            Expect(TokenKind.Operator, "=");
            values.Add(ParseExpression(true));
        }
        Stmt[] body = ParseStatements(["endwith"], true);
        return new WithStmt(at.Line, at.Column, [.. targets], [.. values], body);
    }

    private Target ParseAssignTarget(bool withTuple, bool withNamespace, string? extraEnd)
    {
        Token at = Current;
        if (withNamespace && Peek.IsOp("."))
        {
            string ns = Expect(TokenKind.Name).Text;
            Next();
            string attr = Expect(TokenKind.Name).Text;
            return new Target(at.Line, at.Column, ns, attr, null);
        }
        var items = new List<Target>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
                Expect(TokenKind.Operator, ",");
            if (IsTupleEnd(extraEnd))
                break;
            items.Add(ParseTargetPrimary());
            if (withTuple && Current.IsOp(","))
                isTuple = true;
            else
                break;
        }
        if (!isTuple)
        {
            if (items.Count == 0)
                throw Error($"Expected an expression, got '{Current.Describe()}'");
            return items[0];
        }
        return new Target(at.Line, at.Column, null, null, [.. items]);
    }

    private Target ParseTargetPrimary()
    {
        Token t = Current;
        if (t.Kind == TokenKind.Name)
        {
            if (t.Text is "true" or "false" or "True" or "False" or "none" or "None")
                throw Error($"can't assign to '{t.Text}'");
            Next();
            return new Target(t.Line, t.Column, t.Text, null, null);
        }
        if (t.IsOp("("))
        {
            Next();
            Target inner = ParseAssignTarget(withTuple: true, withNamespace: false, extraEnd: null);
            Expect(TokenKind.Operator, ")");
            return inner;
        }
        throw Error($"can't assign to '{t.Describe()}'");
    }

    private bool IsTupleEnd(string? extraEnd) =>
        Current.Kind is TokenKind.VarEnd or TokenKind.BlockEnd or TokenKind.Eof || Current.IsOp(")")
        || (extraEnd is not null && Current.IsName(extraEnd));

    private Expr ParseTuple(bool simplified, bool withCondExpr, string? extraEnd, bool explicitParens)
    {
        Token at = Current;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
                Expect(TokenKind.Operator, ",");
            if (IsTupleEnd(extraEnd))
                break;
            items.Add(simplified ? ParsePrimary() : ParseExpression(withCondExpr));
            if (Current.IsOp(","))
                isTuple = true;
            else
                break;
        }
        if (!isTuple)
        {
            if (items.Count > 0)
                return items[0];
            if (!explicitParens)
                throw Error($"Expected an expression, got '{Current.Describe()}'");
        }
        return new ListExpr(at.Line, at.Column, [.. items], isTuple: true);
    }

    private Expr ParseExpression(bool withCondExpr)
    {
        Enter();
        try
        {
            return withCondExpr ? ParseCondExpr() : ParseOr();
        }
        finally
        {
            _depth--;
        }
    }

    private Expr ParseCondExpr()
    {
        Expr expr = ParseOr();
        while (Current.IsName("if"))
        {
            Token at = Next();
            Expr test = ParseOr();
            Expr? otherwise = SkipName("else") ? ParseCondExpr() : null;
            expr = new CondExpr(at.Line, at.Column, test, expr, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        Expr left = ParseAnd();
        while (Current.IsName("or"))
        {
            Token at = Next();
            left = new BinaryExpr(at.Line, at.Column, "or", left, ParseAnd());
        }
        return left;
    }

    private Expr ParseAnd()
    {
        Expr left = ParseNot();
        while (Current.IsName("and"))
        {
            Token at = Next();
            left = new BinaryExpr(at.Line, at.Column, "and", left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            Token at = Next();
            Enter();
            try
            {
                return new UnaryExpr(at.Line, at.Column, "not", ParseNot());
            }
            finally
            {
                _depth--;
            }
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        Token at = Current;
        Expr first = ParseMath1();
        var ops = new List<(string, Expr)>();
        while (true)
        {
            Token t = Current;
            if (t.Kind == TokenKind.Operator && CompareOps.Contains(t.Text))
            {
                Next();
                ops.Add((t.Text, ParseMath1()));
            }
            else if (t.IsName("in"))
            {
                Next();
                ops.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && Peek.IsName("in"))
            {
                Next();
                Next();
                ops.Add(("notin", ParseMath1()));
            }
            else
                break;
        }
        return ops.Count == 0 ? first : new CompareExpr(at.Line, at.Column, first, [.. ops]);
    }

    private Expr ParseMath1()
    {
        Expr left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-"))
        {
            Token at = Next();
            left = new BinaryExpr(at.Line, at.Column, at.Text, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        Expr left = ParseMath2();
        while (Current.IsOp("~"))
        {
            Token at = Next();
            left = new BinaryExpr(at.Line, at.Column, "~", left, ParseMath2());
        }
        return left;
    }

    private Expr ParseMath2()
    {
        Expr left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            Token at = Next();
            left = new BinaryExpr(at.Line, at.Column, at.Text, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        Expr left = ParseUnary(true);
        while (Current.IsOp("**"))
        {
            Token at = Next();
            left = new BinaryExpr(at.Line, at.Column, "**", left, ParseUnary(true));
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Token at = Current;
        Expr node;
        Enter();
        try
        {
            if (at.IsOp("-") || at.IsOp("+"))
            {
                Next();
                node = new UnaryExpr(at.Line, at.Column, at.Text, ParseUnary(false));
            }
            else
                node = ParsePrimary();
            node = ParsePostfix(node);
            if (withFilter)
                node = ParseFilterExpr(node);
            return node;
        }
        finally
        {
            _depth--;
        }
    }

    private Expr ParsePrimary()
    {
        Token t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                Next();
                return t.Text switch
                {
                    "true" or "True" => new ConstExpr(t.Line, t.Column, true),
                    "false" or "False" => new ConstExpr(t.Line, t.Column, false),
                    "none" or "None" => new ConstExpr(t.Line, t.Column, null),
                    _ => new NameExpr(t.Line, t.Column, t.Text),
                };
            case TokenKind.String:
            {
                Next();
                string s = (string)t.Value!;
                while (Current.Kind == TokenKind.String)
                    s += (string)Next().Value!;
                return new ConstExpr(t.Line, t.Column, s);
            }
            case TokenKind.Integer or TokenKind.Float:
                Next();
                return new ConstExpr(t.Line, t.Column, t.Value);
            case TokenKind.Operator when t.Text == "(":
            {
                Next();
                Expr e = ParseTuple(false, true, null, explicitParens: true);
                Expect(TokenKind.Operator, ")");
                return e;
            }
            case TokenKind.Operator when t.Text == "[":
            {
                Next();
                var items = new List<Expr>();
                while (!Current.IsOp("]"))
                {
                    if (items.Count > 0)
                        Expect(TokenKind.Operator, ",");
                    if (Current.IsOp("]"))
                        break;
                    items.Add(ParseExpression(true));
                }
                Expect(TokenKind.Operator, "]");
                return new ListExpr(t.Line, t.Column, [.. items], isTuple: false);
            }
            case TokenKind.Operator when t.Text == "{":
            {
                Next();
                var pairs = new List<(Expr, Expr)>();
                while (!Current.IsOp("}"))
                {
                    if (pairs.Count > 0)
                        Expect(TokenKind.Operator, ",");
                    if (Current.IsOp("}"))
                        break;
                    Expr key = ParseExpression(true);
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression(true)));
                }
                Expect(TokenKind.Operator, "}");
                return new DictExpr(t.Line, t.Column, [.. pairs]);
            }
            case TokenKind.Eof:
                throw Error("unexpected end of template");
            default:
                throw Error($"unexpected '{t.Describe()}'");
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOp(".") || Current.IsOp("["))
                node = ParseSubscript(node);
            else if (Current.IsOp("("))
                node = ParseCall(node);
            else
                return node;
        }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOp("|"))
                node = ParseFilter(node, startInline: false)!;
            else if (Current.IsName("is"))
                node = ParseTest(node);
            else if (Current.IsOp("("))
                node = ParseCall(node);
            else
                return node;
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        Token t = Next();
        if (t.IsOp("."))
        {
            Token attr = Next();
            if (attr.Kind == TokenKind.Name)
                return new AttrExpr(t.Line, t.Column, node, attr.Text);
            if (attr.Kind != TokenKind.Integer)
                throw Error("expected name or number", attr);
            return new ItemExpr(t.Line, t.Column, node, new ConstExpr(attr.Line, attr.Column, attr.Value));
        }
        var args = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (args.Count > 0)
                Expect(TokenKind.Operator, ",");
            args.Add(ParseSubscribed());
        }
        Expect(TokenKind.Operator, "]");
        Expr key = args.Count == 1 ? args[0] : new ListExpr(t.Line, t.Column, [.. args], isTuple: true);
        return new ItemExpr(t.Line, t.Column, node, key);
    }

    private Expr ParseSubscribed()
    {
        Token at = Current;
        Expr? start = null;
        if (Current.IsOp(":"))
            Next();
        else
        {
            Expr e = ParseExpression(true);
            if (!Current.IsOp(":"))
                return e;
            Next();
            start = e;
        }
        Expr? stop = null, step = null;
        if (!Current.IsOp(":") && !Current.IsOp("]") && !Current.IsOp(","))
            stop = ParseExpression(true);
        if (SkipOp(":") && !Current.IsOp("]") && !Current.IsOp(","))
            step = ParseExpression(true);
        _slices++;
        return new SliceExpr(at.Line, at.Column, start, stop, step);
    }

    private CallExpr ParseCall(Expr node)
    {
        Token at = Current;
        return new CallExpr(at.Line, at.Column, node, ParseCallArgs());
    }

    private CallArgs ParseCallArgs()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        Expr? star = null, starStar = null;
        bool requireComma = false;
        while (!Current.IsOp(")"))
        {
            if (requireComma)
            {
                Expect(TokenKind.Operator, ",");
                if (Current.IsOp(")"))
                    break;
            }
            if (SkipOp("*"))
                star = ParseExpression(true);
            else if (SkipOp("**"))
                starStar = ParseExpression(true);
            else if (Current.Kind == TokenKind.Name && Peek.IsOp("="))
            {
                string key = Next().Text;
                Next();
                keywords.Add((key, ParseExpression(true)));
            }
            else
            {
                if (keywords.Count > 0)
                    throw Error("positional argument follows keyword argument");
                positional.Add(ParseExpression(true));
            }
            requireComma = true;
        }
        Expect(TokenKind.Operator, ")");
        return new CallArgs([.. positional], [.. keywords], star, starStar);
    }

    private Expr? ParseFilter(Expr? node, bool startInline)
    {
        while (Current.IsOp("|") || startInline)
        {
            if (!startInline)
                Next();
            Token t = Expect(TokenKind.Name);
            string name = t.Text;
            while (Current.IsOp("."))
            {
                Next();
                name += "." + Expect(TokenKind.Name).Text;
            }
            CallArgs args = Current.IsOp("(") ? ParseCallArgs() : CallArgs.None;
            node = new FilterExpr(t.Line, t.Column, node, name, args);
            startInline = false;
        }
        return node;
    }

    private Expr ParseTest(Expr node)
    {
        Token at = Next();
        bool negated = SkipName("not");
        Token t = Expect(TokenKind.Name);
        string name = t.Text;
        while (Current.IsOp("."))
        {
            Next();
            name += "." + Expect(TokenKind.Name).Text;
        }
        CallArgs args;
        Token c = Current;
        if (c.IsOp("("))
            args = ParseCallArgs();
        else if ((c.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || c.IsOp("[") || c.IsOp("{"))
                 && !c.IsName("else") && !c.IsName("or") && !c.IsName("and"))
        {
            if (c.IsName("is"))
                throw Error("You cannot chain multiple tests with is");
            args = new CallArgs([ParsePostfix(ParsePrimary())], [], null, null);
        }
        else
            args = CallArgs.None;
        Expr result = new TestExpr(at.Line, at.Column, node, name, args);
        return negated ? new UnaryExpr(at.Line, at.Column, "not", result) : result;
    }

    // Names a macro body mentions, so calls know whether it takes varargs/kwargs/caller.
    private static void CollectNames(Stmt[] body, HashSet<string> names)
    {
        var visitor = new NameCollector(names);
        foreach (Stmt s in body)
            visitor.Visit(s);
    }

    private sealed class NameCollector(HashSet<string> names)
    {
        public void Visit(Node? n)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            switch (n)
            {
                case null: return;
                case NameExpr e: names.Add(e.Name); return;
                case ListExpr e: foreach (var i in e.Items) Visit(i); return;
                case DictExpr e: foreach (var (k, v) in e.Pairs) { Visit(k); Visit(v); } return;
                case AttrExpr e: Visit(e.Target); return;
                case ItemExpr e: Visit(e.Target); Visit(e.Key); return;
                case SliceExpr e: Visit(e.Start); Visit(e.Stop); Visit(e.Step); return;
                case CallExpr e: Visit(e.Callee); Args(e.Args); return;
                case FilterExpr e: Visit(e.Target); Args(e.Args); return;
                case TestExpr e: Visit(e.Target); Args(e.Args); return;
                case UnaryExpr e: Visit(e.Operand); return;
                case BinaryExpr e: Visit(e.Left); Visit(e.Right); return;
                case CompareExpr e: Visit(e.First); foreach (var (_, o) in e.Rest) Visit(o); return;
                case CondExpr e: Visit(e.Test); Visit(e.Then); Visit(e.Otherwise); return;
                case PrintStmt s: Visit(s.Value); return;
                case ForStmt s: Visit(s.Iter); Visit(s.Filter); All(s.Body); All(s.Else); return;
                case IfStmt s: foreach (var t in s.Tests) Visit(t); foreach (var b in s.Bodies) All(b); All(s.Else); return;
                case SetStmt s: Visit(s.Value); return;
                case SetBlockStmt s: Visit(s.Filter); All(s.Body); return;
                case MacroStmt s: foreach (var d in s.Defaults) Visit(d); All(s.Body); return;
                case CallBlockStmt s: Visit(s.Call); Visit(s.Caller); return;
                case FilterBlockStmt s: Visit(s.Filter); All(s.Body); return;
                case WithStmt s: foreach (var v in s.Values) Visit(v); All(s.Body); return;
                case GenerationStmt s: All(s.Body); return;
                default: return;
            }
        }

        private void All(Stmt[] body)
        {
            foreach (Stmt s in body)
                Visit(s);
        }

        private void Args(CallArgs a)
        {
            foreach (var p in a.Positional) Visit(p);
            foreach (var (_, v) in a.Keywords) Visit(v);
            Visit(a.StarArgs);
            Visit(a.StarKwargs);
        }
    }
}
