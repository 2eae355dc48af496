using System.Text;
using Fathom.Sampling;

namespace Fathom.Tests.Sampling.Grammar;

public class GrammarTests
{
    /// <summary>Whether the whole text is a complete match, walking the byte automaton directly.</summary>
    internal static bool Matches(Fathom.Sampling.Grammar g, string text) => Matches(g, Encoding.UTF8.GetBytes(text));

    internal static bool Matches(Fathom.Sampling.Grammar g, byte[] bytes)
    {
        var m = new GrammarMatcher(g.Program);
        int s = m.Start;
        foreach (byte b in bytes)
        {
            s = m.Advance(s, b);
            if (s < 0)
                return false;
        }
        return m.IsAccepting(s);
    }

    private static Fathom.Sampling.Grammar G(string text) => Fathom.Sampling.Grammar.Parse(text);

    [Theory]
    [InlineData("root ::= \"ab\"", "ab", true)]
    [InlineData("root ::= \"ab\"", "a", false)]
    [InlineData("root ::= \"ab\"", "abc", false)]
    [InlineData("root ::= \"a\" | \"b\"", "b", true)]
    [InlineData("root ::= (\"a\" | \"b\")* \"c\"", "ababc", true)]
    [InlineData("root ::= (\"a\" | \"b\")* \"c\"", "abab", false)]
    [InlineData("root ::= \"x\"+", "", false)]
    [InlineData("root ::= \"x\"+", "xxx", true)]
    [InlineData("root ::= \"x\"? \"y\"", "y", true)]
    [InlineData("root ::= \"x\"? \"y\"", "xy", true)]
    [InlineData("root ::= \"ab\"{2}", "abab", true)]
    [InlineData("root ::= \"ab\"{2}", "ababab", false)]
    [InlineData("root ::= [a-c]{1,3}", "cab", true)]
    [InlineData("root ::= [a-c]{1,3}", "caba", false)]
    [InlineData("root ::= [a-c]{2,}", "a", false)]
    [InlineData("root ::= [a-c]{2,}", "abcabc", true)]
    [InlineData("root ::= [^a-c]", "d", true)]
    [InlineData("root ::= [^a-c]", "b", false)]
    [InlineData("root ::= [^a-c]", "é", true)]
    [InlineData("root ::= [^a-c]", "😀", true)]
    [InlineData("root ::= .", "日", true)]
    [InlineData("root ::= . .", "日", false)]
    [InlineData("root ::= [α-ω]+", "λόγος", false)]
    [InlineData("root ::= [α-ω]+", "λογος", true)]
    [InlineData("root ::= \"日本\"", "日本", true)]
    [InlineData("root ::= [\\x00-\\x7F]", "\u007f", true)]
    [InlineData("root ::= \"\\u00e9\\U0001F600\"", "é😀", true)]
    [InlineData("root ::= \"\\\"\\\\\\n\\t\"", "\"\\\n\t", true)]
    [InlineData("root ::= [\\]\\[-]+", "[]-", true)]
    [InlineData("root ::= a b\na ::= \"a\" # comment\nb ::= (\n  \"b\" |\n  \"c\"\n)", "ac", true)]
    [InlineData("root ::= item (\",\" item)*\nitem ::= [0-9]+", "1,22,333", true)]
    [InlineData("root ::= item (\",\" item)*\nitem ::= [0-9]+", "1,,2", false)]
    [InlineData("root ::= \"a\" |", "", true)]
    [InlineData("root ::= \"(\" root \")\" | \"x\"", "((x))", true)]
    [InlineData("root ::= \"(\" root \")\" | \"x\"", "((x)", false)]
    public void Matches_the_language_gbnf_describes(string gbnf, string text, bool expected)
    {
        Assert.Equal(expected, Matches(G(gbnf), text));
    }

    [Fact]
    public void Invalid_utf8_never_matches_a_character_class()
    {
        var g = G("root ::= [^a]*");
        Assert.False(Matches(g, [0xC0, 0x80]));
        Assert.False(Matches(g, [0xED, 0xA0, 0x80])); // a surrogate
        Assert.False(Matches(g, [0xE6, 0x97]));       // truncated
        Assert.True(Matches(g, [0xE6, 0x97, 0xA5]));
    }

    [Theory]
    [InlineData("root ::= \"a", 1, 10, "unterminated string")]
    [InlineData("root ::= [a-", 1, 10, "unterminated character class")]
    [InlineData("root ::= b", 1, 10, "'b' is used but never defined")]
    [InlineData("a ::= \"x\"", 1, 1, "no 'root' rule")]
    [InlineData("root ::= \"x\"\nroot ::= \"y\"", 2, 1, "defined twice")]
    [InlineData("root ::= root \"x\" | \"y\"", 1, 1, "left-recursive")]
    [InlineData("root ::= a | \"z\"\na ::= \"y\"? root", 1, 1, "left-recursive")]
    [InlineData("root ::= \"x\" root", 1, 1, "never finish")]
    [InlineData("root ::= * \"x\"", 1, 10, "nothing before it to repeat")]
    [InlineData("root ::= \"x\"{3,2}", 1, 13, "max < min")]
    [InlineData("root ::= \"\\q\"", 1, 11, "unknown escape")]
    [InlineData("root ::= \"\\xZZ\"", 1, 11, "hex digits")]
    [InlineData("root ::= (\"x\"", 1, 14, "expected ')'")]
    [InlineData("root = \"x\"", 1, 6, "expected '::='")]
    [InlineData("root ::= \"x\" )", 1, 14, "unexpected ')'")]
    [InlineData("root ::= [z-a]", 1, 11, "backwards")]
    [InlineData("root ::= <|tok|>", 1, 10, "token references")]
    [InlineData("\n\n  root ::= [^\\x00-\\U0010FFFF]", 3, 3, "never finish")]
    public void Bad_grammars_say_where(string gbnf, int line, int column, string message)
    {
        var ex = Assert.Throws<GrammarException>(() => G(gbnf));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.Equal((line, column), (ex.Line, ex.Column));
    }

    [Fact]
    public void A_different_root_rule_can_be_named()
    {
        var g = Fathom.Sampling.Grammar.Parse("start ::= \"s\" other\nother ::= \"o\"", root: "start");
        Assert.Equal("start", g.Root);
        Assert.True(Matches(g, "so"));
    }
}
