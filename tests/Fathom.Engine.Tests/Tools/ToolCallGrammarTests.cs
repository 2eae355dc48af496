using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Gguf;
using Fathom.Sampling;
using Fathom.Tests.Sampling.Grammar;
using Fathom.Tokenization;
using Fathom.Tools;

namespace Fathom.Engine.Tests.Tools;

/// <summary>
/// tool_choice any / required: random tool sets (random schemas, seeded) under random logits always come out as calls
/// to declared tools whose arguments validate against that tool's schema, in every family's syntax, and never dead-end.
/// </summary>
public class ToolCallGrammarTests
{
    private static readonly ToolCallFormat[] Formats =
    [
        ToolCallFormat.Hermes, ToolCallFormat.Qwen3Coder, ToolCallFormat.Llama3, ToolCallFormat.Mistral, ToolCallFormat.MistralV11,
        ToolCallFormat.DeepSeekR1, ToolCallFormat.CommandR, ToolCallFormat.CommandR7B,
    ];

    private static readonly string[] ToolNames = ["get_weather", "get", "search-files", "run", "run_all", "Tool9"];

    private static readonly Lazy<(Tokenizer Tokenizer, GrammarVocabulary Vocabulary, byte[][] Pieces)[]> Vocabs = new(() =>
        [.. ((string[])["ggml-vocab-qwen2.gguf", "ggml-vocab-llama-spm.gguf"]).Select(name =>
        {
            using var gguf = GgufFile.Open(Fixtures.Vocab(name));
            var t = Tokenizer.FromGguf(gguf);
            return (t, GrammarVocabulary.For(t), Enumerable.Range(0, t.VocabularySize).Select(id => t.TokenToPiece(id, renderSpecial: false)).ToArray());
        })]);

    /// <summary>Between one and four tools, each an object schema from the random-schema generator (a non-object wrapped as one property).</summary>
    internal static List<ToolDefinition> RandomTools(int seed)
    {
        var rng = new Random(seed);
        var schemas = new RandomSchemas(seed * 31 + 7);
        var names = ToolNames.OrderBy(_ => rng.Next()).Take(rng.Next(1, 5)).ToList();
        var tools = new List<ToolDefinition>();
        foreach (string name in names)
        {
            var s = schemas.Next();
            JsonObject schema;
            if (s["type"] is JsonValue v && v.TryGetValue(out string? type) && type == "object")
                schema = s;
            else
            {
                var defs = s["$defs"];
                s.Remove("$defs");
                schema = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject { ["arg"] = s, ["flag"] = new JsonObject { ["type"] = "boolean" } },
                    ["required"] = new JsonArray("arg"),
                };
                if (defs is not null)
                {
                    schema["$defs"] = defs.DeepClone();
                }
            }
            tools.Add(new ToolDefinition(name, null, JsonDocument.Parse(schema.ToJsonString()).RootElement.Clone()));
        }
        return tools;
    }

    [Fact]
    public void Forced_calls_always_parse_into_declared_tools_whose_arguments_validate()
    {
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        const int Seeds = 96;
        for (int seed = 0; seed < Seeds; seed++)
        {
            var format = Formats[seed % Formats.Length];
            var tools = RandomTools(seed);
            bool parallel = seed % 3 != 0;
            var constraint = ToolCallGrammar.ForAnyTool(format, tools, parallel);
            var (tokenizer, vocabulary, pieces) = Vocabs.Value[seed % 4 == 1 ? 1 : 0];
            string context = $"seed {seed} format {format} parallel {parallel}\ntools {string.Join("\n", tools.Select(t => t.Name + " " + t.Parameters!.Value.GetRawText()))}\n";
            var bytes = ConstrainedWalk.Generate(new GrammarConstraint(constraint.Grammar, vocabulary), tokenizer, pieces, seed, context);
            string output = constraint.Prefix + strict.GetString(bytes);
            context += $"output {output}\n";

            var parsed = ToolCallParser.Parse(format, output, tools);
            Assert.True(parsed.Text.Trim().Length == 0, context + $"text left over: '{parsed.Text}'");
            Assert.NotEmpty(parsed.Calls);
            if (!parallel)
                Assert.Single(parsed.Calls);
            foreach (var call in parsed.Calls)
            {
                var tool = tools.Find(t => t.Name == call.Name);
                Assert.True(tool is not null, context + $"undeclared tool {call.Name}");
                using var args = JsonDocument.Parse(call.Arguments);
                string? error = SchemaValidator.Validate(tool.Parameters!.Value, args.RootElement);
                Assert.True(error is null, context + $"call {call.Name} {call.Arguments} fails: {error}");
            }

            // Streamed in arbitrary pieces, the calls come out the same.
            var rng = new Random(seed);
            var parser = new ToolCallParser(format, tools);
            var streamed = new List<(string Name, StringBuilder Args)>();
            var events = new List<ToolCallEvent>();
            for (int at = 0; at < output.Length;)
            {
                int n = Math.Min(output.Length - at, rng.Next(1, 12));
                events.AddRange(parser.Push(output.Substring(at, n)));
                at += n;
            }
            events.AddRange(parser.Complete());
            foreach (var e in events)
            {
                if (e.Kind == ToolCallEventKind.CallStart)
                    streamed.Add((e.Text, new StringBuilder()));
                else if (e.Kind == ToolCallEventKind.Arguments)
                    streamed[e.Index].Args.Append(e.Text);
            }
            Assert.Equal(parsed.Calls.Select(c => c.Name + " " + c.Arguments), streamed.Select(c => c.Name + " " + c.Args));
        }
    }

    [Theory]
    [MemberData(nameof(AllFormats))]
    public void Parallel_false_allows_exactly_one_call_and_the_grammar_refuses_a_second(ToolCallFormat format)
    {
        var tools = RandomTools(5);
        var one = ToolCallGrammar.ForAnyTool(format, tools, parallel: false);
        var many = ToolCallGrammar.ForAnyTool(format, tools, parallel: true);
        Assert.Equal(one.Prefix, many.Prefix);
        // The repeated-call rule exists only in the parallel grammar.
        Assert.DoesNotContain(")*", one.Grammar.Text.Split('\n').Single(l => l.StartsWith("root ::=", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains(")*", many.Grammar.Text.Split('\n').Single(l => l.StartsWith("root ::=", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    public static TheoryData<ToolCallFormat> AllFormats() => [.. Formats];

    [Fact]
    public void A_tool_whose_schema_cannot_be_compiled_takes_any_object_and_no_tools_is_an_error()
    {
        using var doc = JsonDocument.Parse("""{"type":"object","properties":{"p":{"type":"string","pattern":"^a+$"}}}""");
        var tools = new List<ToolDefinition> { new("pat", null, doc.RootElement.Clone()), new("plain", null, null) };
        foreach (var format in Formats)
            Assert.NotNull(ToolCallGrammar.ForAnyTool(format, tools, parallel: true).Grammar);
        Assert.Throws<ArgumentException>(() => ToolCallGrammar.ForAnyTool(ToolCallFormat.Hermes, [], parallel: true));
        Assert.Throws<ArgumentException>(() => ToolCallGrammar.ForAnyTool(ToolCallFormat.None, tools, parallel: true));
    }

    [Fact]
    public void Each_schema_keeps_its_own_rules_when_two_tools_have_the_same_property_names()
    {
        using var a = JsonDocument.Parse("""{"type":"object","properties":{"x":{"type":"integer","minimum":0,"maximum":3}},"required":["x"]}""");
        using var b = JsonDocument.Parse("""{"type":"object","properties":{"x":{"enum":["left","right"]}},"required":["x"]}""");
        var tools = new List<ToolDefinition> { new("a", null, a.RootElement.Clone()), new("b", null, b.RootElement.Clone()) };
        var c = ToolCallGrammar.ForAnyTool(ToolCallFormat.Hermes, tools, parallel: false);
        var (tokenizer, vocabulary, _) = Vocabs.Value[0];
        Assert.True(Accepts(c.Grammar, vocabulary, tokenizer, "\n{\"name\": \"a\", \"arguments\": {\"x\": 2}}\n</tool_call>"));
        Assert.True(Accepts(c.Grammar, vocabulary, tokenizer, "\n{\"name\": \"b\", \"arguments\": {\"x\": \"left\"}}\n</tool_call>"));
        Assert.False(Accepts(c.Grammar, vocabulary, tokenizer, "\n{\"name\": \"a\", \"arguments\": {\"x\": \"left\"}}\n</tool_call>"));
        Assert.False(Accepts(c.Grammar, vocabulary, tokenizer, "\n{\"name\": \"c\", \"arguments\": {\"x\": 2}}\n</tool_call>"));
    }

    private static bool Accepts(Fathom.Sampling.Grammar grammar, GrammarVocabulary vocabulary, Tokenizer tokenizer, string text)
    {
        var c = new GrammarConstraint(grammar, vocabulary);
        var logits = new float[vocabulary.Count];
        foreach (int id in tokenizer.Encode(text, addSpecial: false, parseSpecial: false))
        {
            Array.Clear(logits);
            c.Mask(logits);
            if (float.IsNegativeInfinity(logits[id]))
                return false;
            c.Accept(id);
        }
        return c.IsComplete;
    }
}
