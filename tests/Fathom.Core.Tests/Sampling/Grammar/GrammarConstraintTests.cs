using System.Text;
using Fathom.Sampling;
using Fathom.Tests.Tokenization;
using Fathom.Tokenization;

namespace Fathom.Tests.Sampling.Grammar;

public class GrammarConstraintTests
{
    public static TheoryData<string> Vocabs => new() { "ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-qwen2.gguf" };

    // A finite language, so "allowed" has an independent definition: prefix + piece is a prefix of some sentence.
    private const string FiniteGbnf = """
        root ::= "{\"k\": " value "}"
        value ::= "1" | "22" | "\"日本語\"" | "\"é😀\"" | "true"
        """;

    private static readonly string[] Sentences = ["{\"k\": 1}", "{\"k\": 22}", "{\"k\": \"日本語\"}", "{\"k\": \"é😀\"}", "{\"k\": true}"];

    private static readonly byte[][] SentenceBytes = [.. Sentences.Select(Encoding.UTF8.GetBytes)];

    private static bool IsPrefixOfSentence(ReadOnlySpan<byte> prefix)
    {
        foreach (var s in SentenceBytes)
            if (s.AsSpan().StartsWith(prefix))
                return true;
        return false;
    }

    [Theory]
    [MemberData(nameof(Vocabs))]
    public void Mask_allows_exactly_the_tokens_that_keep_a_sentence_reachable(string vocab)
    {
        var tokenizer = VocabFixtures.Load(vocab);
        var v = GrammarVocabulary.For(tokenizer);
        var c = new GrammarConstraint(Fathom.Sampling.Grammar.Parse(FiniteGbnf), v);
        var rng = new Random(7);
        var logits = new float[tokenizer.VocabularySize + 5];
        var pieces = Enumerable.Range(0, tokenizer.VocabularySize).Select(id => tokenizer.TokenToPiece(id, renderSpecial: false)).ToArray();
        var buffer = new byte[256];
        foreach (string target in Sentences)
        {
            c.Reset();
            var output = new List<byte>();
            byte[] goal = Encoding.UTF8.GetBytes(target);
            while (true)
            {
                Array.Fill(logits, 0f);
                c.Mask(logits);
                for (int id = 0; id < logits.Length; id++)
                {
                    bool expected;
                    if (id >= tokenizer.VocabularySize)
                        expected = false;
                    else if (tokenizer.IsEndOfGeneration(id))
                        expected = SentenceBytes.Any(s => s.AsSpan().SequenceEqual(output.ToArray()));
                    else
                    {
                        byte[] piece = pieces[id];
                        output.CopyTo(buffer);
                        expected = piece.Length > 0 && output.Count + piece.Length <= buffer.Length;
                        if (expected)
                        {
                            piece.CopyTo(buffer, output.Count);
                            expected = IsPrefixOfSentence(buffer.AsSpan(0, output.Count + piece.Length));
                        }
                    }
                    if (expected == float.IsNegativeInfinity(logits[id]))
                        Assert.Fail($"token {id} after '{Encoding.UTF8.GetString([.. output])}': expected allowed={expected}");
                    if (id < tokenizer.VocabularySize)
                        Assert.Equal(expected, c.IsAllowed(id));
                }
                if (output.Count == goal.Length)
                    break;
                // walk towards the target with a random allowed token that stays on it (byte tokens spell any rest)
                var options = Enumerable.Range(0, tokenizer.VocabularySize).Where(id => !float.IsNegativeInfinity(logits[id]) && !tokenizer.IsEndOfGeneration(id))
                    .Where(id => goal.AsSpan(output.Count).StartsWith(pieces[id])).ToList();
                Assert.NotEmpty(options);
                int pick = options[rng.Next(options.Count)];
                c.Accept(pick);
                output.AddRange(pieces[pick]);
            }
            Assert.True(c.IsComplete);
            Assert.False(c.CanContinue);
            c.Accept(tokenizer.Eos);
            Assert.True(c.IsEnded);
            Assert.False(c.IsComplete);
        }
    }

    // Bounded and unbounded strings (runs of "any character" that masks accept whole trie subtrees for), cycles,
    // exact lengths, enums and multi-byte characters.
    private static readonly string[] MaskGrammars =
    [
        JsonSchemaGrammar.Compile("""
            {"type":"object","properties":{"a":{"type":"string","minLength":2,"maxLength":6},"b":{"type":"array","items":{"type":"string","maxLength":3}},
             "c":{"enum":["x y","zz"]},"d":{"type":"number"},"e":{"type":"string"},"f":{"type":"string","format":"uuid"}},"required":["a","b","c","d","e","f"],"additionalProperties":false}
            """).Text,
        """root ::= ( "x" [a-z] | [0-9]{1,4} " " | [a-z]{2,5} "," )* "." """,
        """root ::= "\"" ( [^"\\] | "\\" ["\\] ){0,12} "\"" [ ]* "é"+ ( [^a-z]* "z" )?""",
    ];

    [Theory]
    [MemberData(nameof(Vocabs))]
    public void Masks_equal_a_per_token_check_along_random_walks(string vocab)
    {
        var tokenizer = VocabFixtures.Load(vocab);
        var v = GrammarVocabulary.For(tokenizer);
        var logits = new float[tokenizer.VocabularySize];
        var allowed = new List<int>();
        var rng = new Random(11);
        foreach (string gbnf in MaskGrammars)
        {
            var grammar = Fathom.Sampling.Grammar.Parse(gbnf);
            for (int walk = 0; walk < 2; walk++)
            {
                var c = new GrammarConstraint(grammar, v);
                for (int step = 0; step < 40 && !c.IsEnded; step++)
                {
                    Array.Fill(logits, 0f);
                    c.Mask(logits);
                    allowed.Clear();
                    for (int id = 0; id < logits.Length; id++)
                    {
                        bool expected = c.IsAllowed(id);
                        if (expected == float.IsNegativeInfinity(logits[id]))
                            Assert.Fail($"{vocab}, grammar {Array.IndexOf(MaskGrammars, gbnf)}, step {step}: token {id} expected allowed={expected}");
                        if (expected)
                            allowed.Add(id);
                    }
                    Assert.NotEmpty(allowed);
                    // mostly ASCII tokens so strings run long; a multi-byte one now and then
                    var ascii = allowed.Where(id => v.Pieces[id].All(b => b < 0x80)).ToList();
                    var pool = ascii.Count > 0 && rng.Next(4) != 0 ? ascii : allowed;
                    c.Accept(pool[rng.Next(pool.Count)]);
                }
            }
        }
    }

    [Fact]
    public void A_disallowed_token_is_rejected_and_leaves_the_state_alone()
    {
        var tokenizer = VocabFixtures.Load("ggml-vocab-llama-bpe.gguf");
        var c = new GrammarConstraint(Fathom.Sampling.Grammar.Parse("root ::= \"ab\" [0-9]"), tokenizer);
        int x = tokenizer.Encode("x", addSpecial: false).Single();
        Assert.Throws<SamplingException>(() => c.Accept(x));
        Assert.Throws<SamplingException>(() => c.Accept(tokenizer.Eos));
        Assert.True(c.TryAcceptText("ab"u8));
        Assert.False(c.TryAcceptText("c"u8));
        Assert.False(c.IsComplete);
        c.Accept(tokenizer.Encode("7", addSpecial: false).Single());
        Assert.True(c.IsComplete);
        Assert.Throws<SamplingException>(() => c.Accept(x));
    }

    [Fact]
    public void Control_tokens_are_never_allowed_and_eog_only_when_complete()
    {
        var tokenizer = VocabFixtures.Load("ggml-vocab-llama-bpe.gguf");
        var c = new GrammarConstraint(Fathom.Sampling.Grammar.Parse("root ::= [a-z]*"), tokenizer);
        var logits = new float[tokenizer.VocabularySize];
        c.Mask(logits);
        for (int id = 0; id < logits.Length; id++)
        {
            if (tokenizer.IsEndOfGeneration(id))
                Assert.False(float.IsNegativeInfinity(logits[id]));
            else if (tokenizer.GetTokenType(id) == TokenType.Control)
                Assert.True(float.IsNegativeInfinity(logits[id]), $"control token {id}");
        }
    }

    [Fact]
    public void Sampler_chain_output_follows_the_grammar_at_any_temperature()
    {
        var tokenizer = VocabFixtures.Load("ggml-vocab-llama-spm.gguf");
        var grammar = Fathom.Sampling.Grammar.Parse("root ::= \"yes\" | \"no\" | \"maybe: \" [0-9]{1,3}");
        var rng = new Random(3);
        foreach (float temperature in (float[])[0f, 0.7f, 1.5f])
        {
            for (int run = 0; run < 5; run++)
            {
                var c = new GrammarConstraint(grammar, tokenizer);
                var chain = new SamplerChain(new SamplingOptions { Temperature = temperature, TopK = 40, Seed = (ulong)run }, c);
                var ids = new List<int>();
                var logits = new float[tokenizer.VocabularySize];
                while (!c.IsEnded && ids.Count < 50)
                {
                    for (int i = 0; i < logits.Length; i++)
                        logits[i] = (float)(rng.NextDouble() * 10);
                    ids.Add(chain.Sample(logits, ids.ToArray()));
                }
                Assert.True(c.IsEnded);
                string text = tokenizer.Decode(ids.Take(ids.Count - 1).ToArray(), renderSpecial: false).TrimStart();
                Assert.True(GrammarTests.Matches(grammar, text), text);
            }
        }
    }
}
