using System.Text;
using BenchmarkDotNet.Attributes;
using Fathom.Gguf;
using Fathom.Sampling;
using Fathom.Tokenization;

namespace Fathom.Benchmarks;

/// <summary>
/// Grammar masking over a whole JSON document of a nested schema: every token's mask, then accepting it. Cold: a
/// new constraint per document, as each request gets (no transition or mask cached); warm: the same constraint
/// again after Reset. Divide by <see cref="Tokens"/> for the cost per token.
/// </summary>
[MemoryDiagnoser]
public class GrammarMaskBenchmarks
{
    internal const string Schema = """
        {"type":"object","properties":{
          "id":{"type":"string","format":"uuid"},
          "name":{"type":"string","maxLength":40},
          "age":{"type":"integer","minimum":0,"maximum":150},
          "tags":{"type":"array","items":{"type":"string"},"maxItems":5},
          "address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},"zip":{"type":"string","minLength":5,"maxLength":5}},"required":["street","city"],"additionalProperties":false},
          "orders":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer","minimum":1},"status":{"enum":["new","paid","shipped"]}},"required":["sku","qty","status"],"additionalProperties":false}}
         },"required":["id","name","age","address","orders"],"additionalProperties":false}
        """;

    internal const string Document = """{"id": "123e4567-e89b-12d3-a456-426614174000", "name": "Ada Lovelace", "age": 36, "tags": ["math", "poetry", "engines"], "address": {"street": "12 St James's Square", "city": "London", "zip": "SW1Y4"}, "orders": [{"sku": "AE-1843", "qty": 2, "status": "shipped"}, {"sku": "DIFF-ENG", "qty": 1, "status": "new"}]}""";

    private Fathom.Sampling.Grammar _grammar = null!;
    private GrammarVocabulary _vocab = null!;
    private GrammarConstraint _warm = null!;
    private int[] _ids = [];
    private float[] _logits = [];

    [Params("llama-spm", "llama-bpe")]
    public string Vocab { get; set; } = "";

    public int Tokens => _ids.Length;

    [GlobalSetup]
    public void Setup()
    {
        using var gguf = GgufFile.Open(BenchPaths.Fixture("vocab", $"ggml-vocab-{Vocab}.gguf"));
        var tokenizer = Tokenizer.FromGguf(gguf);
        _vocab = GrammarVocabulary.For(tokenizer);
        _grammar = JsonSchemaGrammar.Compile(Schema, new JsonSchemaGrammarOptions { AllowAdditionalPropertiesByDefault = false });
        _ids = LongestMatch(tokenizer, Document);
        _logits = new float[tokenizer.VocabularySize];
        _warm = new GrammarConstraint(_grammar, _vocab);
        Run(_warm);
    }

    /// <summary>Greedy longest-match tokens of the text (SentencePiece's own encoding would start with a space the grammar forbids).</summary>
    internal static int[] LongestMatch(Tokenizer tokenizer, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var pieces = Enumerable.Range(0, tokenizer.VocabularySize).Select(i => tokenizer.TokenToPiece(i, renderSpecial: false)).ToArray();
        var ids = new List<int>();
        for (int at = 0; at < bytes.Length;)
        {
            int best = -1;
            for (int i = 0; i < pieces.Length; i++)
                if (pieces[i].Length > 0 && bytes.AsSpan(at).StartsWith(pieces[i]) && (best < 0 || pieces[i].Length > pieces[best].Length))
                    best = i;
            ids.Add(best);
            at += pieces[best].Length;
        }
        return [.. ids];
    }

    private int Run(GrammarConstraint c)
    {
        c.Reset();
        foreach (int id in _ids)
        {
            c.Mask(_logits);
            c.Accept(id);
        }
        return _ids.Length;
    }

    [Benchmark]
    public int ColdDocument() => Run(new GrammarConstraint(_grammar, _vocab));

    [Benchmark]
    public int WarmDocument() => Run(_warm);
}
