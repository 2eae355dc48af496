namespace Fathom.Sampling;

/// <summary>
/// A parsed, checked GBNF grammar (llama.cpp's grammars/README.md format). Immutable and thread-safe; build one
/// <see cref="GrammarConstraint"/> per sequence from it. Parse errors are <see cref="GrammarException"/>s with the
/// line and column; undefined, unproductive and left-recursive rules are rejected here, so a constraint built from
/// a grammar can never dead-end.
/// </summary>
public sealed class Grammar
{
    private Grammar(string text, string root, GrammarProgram program)
    {
        Text = text;
        Root = root;
        Program = program;
    }

    /// <summary>The GBNF source.</summary>
    public string Text { get; }

    /// <summary>The start rule's name.</summary>
    public string Root { get; }

    internal GrammarProgram Program { get; }

    /// <summary>Parses and checks GBNF text; generation must match <paramref name="root"/>.</summary>
    public static Grammar Parse(string gbnf, string root = "root")
    {
        ArgumentNullException.ThrowIfNull(gbnf);
        ArgumentNullException.ThrowIfNull(root);
        var rules = GbnfParser.Parse(gbnf);
        foreach (var rule in rules)
        {
            if (rule.Offset < 0)
                throw GbnfParser.ErrorAt(gbnf, $"rule '{rule.Name}' is used but never defined", rule.FirstReference);
        }
        int rootIndex = rules.FindIndex(r => r.Name == root);
        if (rootIndex < 0)
            throw new GrammarException($"the grammar has no '{root}' rule to start from", 1, 1);
        var program = GrammarProgram.Lower(rules, rootIndex, (rule, message) => GbnfParser.ErrorAt(gbnf, message, rule.Offset));
        return new Grammar(gbnf, root, program);
    }

    public override string ToString() => Text;
}
