using System.Text.Json;
using Fathom.Sampling;
using Fathom.Tools;

namespace Fathom.Engine.Tests.Engine;

/// <summary>A request's grammar reaches the sampler: a random-weight model's output follows the JSON Schema.</summary>
public class ConstrainedGenerationTests
{
    private const string Schema = """
        {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 0, "maximum": 9}},
         "required": ["ok", "n"], "additionalProperties": false}
        """;

    [Fact]
    public async Task Output_under_a_schema_grammar_is_json_that_fits_the_schema()
    {
        using var engine = InferenceEngine.Load(Fixtures.Model("tiny-llama-q8_0.gguf"), new EngineOptions { ContextLength = 256, MaxSequences = 1 });
        var grammar = JsonSchemaGrammar.Compile(Schema, new JsonSchemaGrammarOptions { Compact = true });
        int[] prompt = engine.Tokenizer.Encode("Answer in JSON:", addSpecial: true, parseSpecial: false);
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var request = new GenerationRequest
            {
                PromptTokens = prompt,
                MaxTokens = 48,
                Grammar = grammar,
                Sampling = new SamplingOptions { Temperature = 1f, Seed = seed },
            };
            string text = "";
            GenerationUpdate? final = null;
            await foreach (var u in engine.Submit(request, TestContext.Current.CancellationToken))
            {
                text += u.Text;
                if (u.IsFinal)
                    final = u;
            }
            Assert.NotNull(final);
            if (final.StopReason == StopReason.EndOfGeneration)
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                Assert.Equal(["ok", "n"], root.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).Reverse());
                Assert.True(root.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
                Assert.InRange(root.GetProperty("n").GetInt32(), 0, 9);
            }
            else
            {
                // Cut off by max_tokens: still a valid beginning of JSON.
                var scanner = new JsonPrefixScanner();
                Assert.All(text, c => Assert.NotEqual(JsonStep.Invalid, scanner.Push(c)));
            }
        }
    }
}
