using System.Text;
using System.Text.Json;
using Fathom.Sampling;
using Fathom.Tests.Tokenization;
using Fathom.Tokenization;

namespace Fathom.Tests.Sampling.Grammar;

public class JsonSchemaGrammarTests
{
    private static Fathom.Sampling.Grammar Compile(string schema, JsonSchemaGrammarOptions? options = null)
        => JsonSchemaGrammar.Compile(schema, options);

    private static void AssertLanguage(string schema, string[] accepted, string[] rejected, JsonSchemaGrammarOptions? options = null)
    {
        var g = Compile(schema, options);
        using var doc = JsonDocument.Parse(schema);
        foreach (string json in accepted)
        {
            Assert.True(GrammarTests.Matches(g, json), $"should accept {json}\n{g.Text}");
            using var instance = JsonDocument.Parse(json);
            Assert.Null(SchemaValidator.Validate(doc.RootElement, instance.RootElement));
        }
        foreach (string json in rejected)
            Assert.False(GrammarTests.Matches(g, json), $"should reject {json}\n{g.Text}");
    }

    [Fact]
    public void Objects_follow_properties_required_and_additional_properties()
    {
        const string schema = """
            {"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},
             "required":["b"],"additionalProperties":false}
            """;
        AssertLanguage(schema,
            ["{\"b\":\"x\"}", "{\"a\":1,\"b\":\"\"}", "{ \"a\": -3, \"b\": \"y\", \"c\": true }", "{\"b\":\"x\",\"c\":false}"],
            ["{}", "{\"a\":1}", "{\"b\":\"x\",\"d\":1}", "{\"b\":\"x\",}", "{,\"b\":\"x\"}", "{\"b\":1}", "{\"a\":1.5,\"b\":\"x\"}"]);
    }

    [Fact]
    public void A_rule_prefix_names_every_schema_rule_so_two_schemas_share_one_grammar()
    {
        const string a = """{"type":"object","properties":{"x":{"type":"integer","minimum":0,"maximum":3}},"required":["x"],"additionalProperties":false}""";
        const string b = """{"type":"object","properties":{"x":{"enum":["l","r"]}},"required":["x"],"additionalProperties":false,"$defs":{"d":{"type":"null"}}}""";
        using var da = JsonDocument.Parse(a);
        using var db = JsonDocument.Parse(b);
        string ga = JsonSchemaGrammar.ToGbnf(da.RootElement, new JsonSchemaGrammarOptions { RulePrefix = "a-" });
        string gb = JsonSchemaGrammar.ToGbnf(db.RootElement, new JsonSchemaGrammarOptions { RulePrefix = "b-" });
        var primitives = new HashSet<string>();
        var rules = new List<string> { "root ::= a-root | b-root" };
        foreach (string line in (ga + gb).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string name = line[..line.IndexOf(" ::= ", StringComparison.Ordinal)];
            Assert.True(name.StartsWith("a-", StringComparison.Ordinal) || name.StartsWith("b-", StringComparison.Ordinal) || primitives.Add(name) || rules.Contains(line), line);
            if (!rules.Contains(line))
                rules.Add(line);
        }
        var g = Fathom.Sampling.Grammar.Parse(string.Join("\n", rules));
        Assert.True(GrammarTests.Matches(g, "{\"x\":2}"));
        Assert.True(GrammarTests.Matches(g, "{\"x\":\"r\"}"));
        Assert.False(GrammarTests.Matches(g, "{\"x\":5}"));
        Assert.Throws<ArgumentException>(() => JsonSchemaGrammar.ToGbnf(da.RootElement, new JsonSchemaGrammarOptions { RulePrefix = "bad prefix" }));
    }

    [Fact]
    public void Additional_keys_can_never_repeat_a_declared_name()
    {
        const string schema = """{"type":"object","properties":{"ab":{"type":"integer"},"q\"x":{"type":"null"}},"additionalProperties":{"type":"string"}}""";
        AssertLanguage(schema,
            ["{\"ab\":1,\"a\":\"s\"}", "{\"abc\":\"s\"}", "{\"b\":\"s\",\"zz\":\"t\"}", "{\"q\\\"x\":null}", "{\"q\\\"\":\"s\"}", "{\"\":\"s\"}"],
            ["{\"ab\":\"s\"}", "{\"x\":1}", "{\"ab\":1,\"ab\":\"s\"}", "{\"q\\\"x\":\"s\"}", "{\"\\u0061b\":\"s\"}"]);
    }

    [Fact]
    public void Arrays_respect_item_counts_and_prefix_items()
    {
        AssertLanguage("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""",
            ["[1]", "[1, 2,3]", "[ 0 ]"], ["[]", "[1,2,3,4]", "[1,]", "[\"a\"]"]);
        AssertLanguage("""{"type":"array","prefixItems":[{"type":"string"},{"type":"boolean"}],"items":false}""",
            ["[]", "[\"a\"]", "[\"a\",true]"], ["[true]", "[\"a\",true,1]"]);
        AssertLanguage("""{"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"null"},"minItems":2}""",
            ["[\"a\",null]", "[\"a\",null,null]"], ["[\"a\"]", "[null,null]"]);
        AssertLanguage("""{"type":"array","maxItems":0}""", ["[]"], ["[1]"]);
    }

    [Fact]
    public void Strings_respect_lengths_in_characters_and_formats()
    {
        AssertLanguage("""{"type":"string","minLength":2,"maxLength":3}""",
            ["\"ab\"", "\"日本語\"", "\"a\\n\"", "\"😀😀\"", "\"\\u00e9x\""], ["\"a\"", "\"abcd\"", "\"\\ud800x\""]);
        AssertLanguage("""{"type":"string","format":"date"}""", ["\"2024-02-29\""], ["\"2024-13-01\"", "\"2024-1-01\""]);
        AssertLanguage("""{"type":"string","format":"date-time"}""", ["\"2024-02-29T23:59:60Z\"".Replace("60", "59", StringComparison.Ordinal), "\"2024-01-01T00:00:00.123+05:30\""], ["\"2024-01-01 00:00:00Z\""]);
        AssertLanguage("""{"type":"string","format":"uuid"}""", ["\"123e4567-e89b-12d3-a456-426614174000\""], ["\"123e4567e89b12d3a456426614174000\""]);
        AssertLanguage("""{"type":"string","format":"email"}""", ["\"a.b@example.com\""], ["\"a@b\"", "\"@x.com\""]);
        AssertLanguage("""{"type":"string","format":"ipv4"}""", ["\"192.168.0.255\""], ["\"256.1.1.1\"", "\"01.1.1.1\""]);
    }

    [Theory]
    [InlineData("""{"type":"integer","minimum":-15,"maximum":120}""", -15, 120)]
    [InlineData("""{"type":"integer","minimum":7,"maximum":7}""", 7, 7)]
    [InlineData("""{"type":"integer","exclusiveMinimum":-101,"exclusiveMaximum":1000}""", -100, 999)]
    [InlineData("""{"type":"integer","minimum":0.5,"maximum":99.5}""", 1, 99)]
    [InlineData("""{"type":"integer","minimum":-3000,"maximum":-2000}""", -3000, -2000)]
    [InlineData("""{"type":"integer","minimum":95}""", 95, long.MaxValue)]
    [InlineData("""{"type":"integer","maximum":-95}""", long.MinValue, -95)]
    public void Integer_bounds_are_exact(string schema, long lo, long hi)
    {
        var g = Compile(schema);
        for (long x = -3100; x <= 3100; x++)
            Assert.True((x >= lo && x <= hi) == GrammarTests.Matches(g, x.ToString(System.Globalization.CultureInfo.InvariantCulture)), $"{x} in {schema}");
        Assert.False(GrammarTests.Matches(g, "-0"));
        Assert.False(GrammarTests.Matches(g, "007"));
    }

    [Theory]
    [InlineData("""{"type":"number","minimum":-3,"maximum":12}""", -3, 12)]
    [InlineData("""{"type":"number","minimum":2,"maximum":5}""", 2, 5)]
    [InlineData("""{"type":"number","minimum":-20,"maximum":-11}""", -20, -11)]
    [InlineData("""{"type":"number","minimum":0}""", 0, double.PositiveInfinity)]
    [InlineData("""{"type":"number","minimum":-7}""", -7, double.PositiveInfinity)]
    [InlineData("""{"type":"number","maximum":4}""", double.NegativeInfinity, 4)]
    [InlineData("""{"type":"number","maximum":-4}""", double.NegativeInfinity, -4)]
    public void Number_bounds_are_exact(string schema, double lo, double hi)
    {
        var g = Compile(schema);
        foreach (string suffix in (string[])["", ".0", ".25", ".5", ".000", ".75"])
        {
            for (int whole = -25; whole <= 25; whole++)
            {
                string text = (whole < 0 ? "-" : "") + Math.Abs(whole).ToString(System.Globalization.CultureInfo.InvariantCulture) + suffix;
                double x = double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
                Assert.True((x >= lo && x <= hi) == GrammarTests.Matches(g, text), $"{text} in {schema}");
            }
        }
        Assert.False(GrammarTests.Matches(g, "1e2"));
    }

    [Fact]
    public void Enums_consts_any_of_and_type_lists()
    {
        AssertLanguage("""{"enum":["a\"b",1.5,null,{"k":[1,true]}]}""", ["\"a\\\"b\"", "1.5", "null", "{\"k\":[1,true]}"], ["\"a\"", "1.50", "{\"k\":[1]}"]);
        AssertLanguage("""{"const":"日本"}""", ["\"日本\""], ["\"日\""]);
        AssertLanguage("""{"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]}""", ["1", "\"x\""], ["\"xy\"", "true"]);
        AssertLanguage("""{"type":["string","null"]}""", ["\"s\"", "null"], ["1"]);
        AssertLanguage("""{"type":"string","enum":["x",1]}""", ["\"x\""], ["1"]);
    }

    [Fact]
    public void Recursive_references_become_recursive_rules()
    {
        const string schema = """
            {"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}},
             "$ref":"#/$defs/node"}
            """;
        AssertLanguage(schema, ["{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]}]}"], ["{\"v\":1,\"kids\":[{}]}"]);
    }

    [Fact]
    public void Json_object_accepts_any_object()
    {
        var g = JsonSchemaGrammar.JsonObject;
        Assert.True(GrammarTests.Matches(g, "{\"a\": [1, -2.5e3, \"x\", {\"b\": null}], \"c\": true}"));
        Assert.False(GrammarTests.Matches(g, "[1]"));
        Assert.False(GrammarTests.Matches(g, "{\"a\" 1}"));
    }

    [Theory]
    [InlineData("""{"type":"array","uniqueItems":true}""", "/uniqueItems", "uniqueItems")]
    [InlineData("""{"properties":{"a":{"type":"string","pattern":"^x"}}}""", "/properties/a/pattern", "pattern")]
    [InlineData("""{"items":{"not":{}}}""", "/items/not", "not")]
    [InlineData("""{"type":"number","minimum":0.5}""", "/minimum", "minimum")]
    [InlineData("""{"type":"number","exclusiveMaximum":3}""", "/exclusiveMaximum", "exclusiveMaximum")]
    [InlineData("""{"type":"string","format":"hostname-ish"}""", "/format", "format")]
    [InlineData("""{"$ref":"https://example.com/s.json"}""", "/$ref", "$ref")]
    [InlineData("""{"anyOf":[{"type":"string"},{"allOf":[]}]}""", "/anyOf/1/allOf", "allOf")]
    public void Unsupported_features_are_named_with_their_pointer(string schema, string pointer, string feature)
    {
        var ex = Assert.Throws<JsonSchemaException>(() => Compile(schema));
        Assert.Equal(pointer, ex.Pointer);
        Assert.Equal(feature, ex.UnsupportedFeature);
        Assert.Contains(feature, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"strnig"}""", "/type")]
    [InlineData("""{"properties":{"a":false}}""", "/properties/a")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "/$ref")]
    [InlineData("""{"type":"string","minLength":5,"maxLength":2}""", "")]
    [InlineData("""{"type":"integer","minimum":5,"maximum":2}""", "")]
    [InlineData("""{"type":"array","minItems":-1}""", "/minItems")]
    [InlineData("""{"enum":[]}""", "/enum")]
    [InlineData("""{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}""", "/$defs/a/$ref")]
    public void Invalid_schemas_are_reported_with_their_pointer(string schema, string pointer)
    {
        var ex = Assert.Throws<JsonSchemaException>(() => Compile(schema));
        Assert.Equal(pointer, ex.Pointer);
        Assert.Null(ex.UnsupportedFeature is "depth" ? null : ex.UnsupportedFeature);
    }

    [Fact]
    public void Deep_nesting_stops_at_the_recursion_limit()
    {
        string schema = string.Concat(Enumerable.Repeat("{\"type\":\"array\",\"items\":", 100)) + "{}" + new string('}', 100);
        var ex = Assert.Throws<JsonSchemaException>(() => Compile(schema, new JsonSchemaGrammarOptions { MaxDepth = 10 }));
        Assert.Contains("recursion limit", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(Compile(schema, new JsonSchemaGrammarOptions { MaxDepth = 200 }));
    }

    [Fact]
    public void Not_json_is_a_schema_error()
    {
        Assert.Throws<JsonSchemaException>(() => Compile("{\"type\":"));
    }

    // ---- property test (issue 11 "Done when") -------------------------------------------------------------

    [Fact]
    public void Constrained_generation_always_yields_json_that_validates_and_never_dead_ends()
    {
        var vocabs = new[] { VocabFixtures.Load("ggml-vocab-llama-spm.gguf"), VocabFixtures.Load("ggml-vocab-llama-bpe.gguf") };
        var grammarVocabs = vocabs.Select(GrammarVocabulary.For).ToArray();
        var pieces = vocabs.Select(t => Enumerable.Range(0, t.VocabularySize).Select(id => t.TokenToPiece(id, renderSpecial: false)).ToArray()).ToArray();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        const int Schemas = 500;
        for (int seed = 0; seed < Schemas; seed++)
        {
            var schemaNode = new RandomSchemas(seed).Next();
            string schemaText = schemaNode.ToJsonString();
            using var schema = JsonDocument.Parse(schemaText);
            var options = new JsonSchemaGrammarOptions { AllowAdditionalPropertiesByDefault = seed % 3 != 0, Compact = seed % 5 == 0 };
            var grammar = JsonSchemaGrammar.Compile(schema.RootElement, options);
            int v = seed % 4 == 3 ? 1 : 0;
            var tokenizer = vocabs[v];
            var constraint = new GrammarConstraint(grammar, grammarVocabs[v]);
            var output = ConstrainedWalk.Generate(constraint, tokenizer, pieces[v], seed, $"seed {seed}: ");
            string context = $"seed {seed}\nschema {schemaText}\n";
            string text;
            try
            {
                text = strict.GetString(output);
            }
            catch (DecoderFallbackException)
            {
                Assert.Fail(context + "output is not UTF-8: " + Convert.ToHexString(output));
                return;
            }
            JsonDocument instance;
            try
            {
                instance = JsonDocument.Parse(text);
            }
            catch (JsonException ex)
            {
                Assert.Fail(context + $"output is not JSON ({ex.Message}): {text}\n{grammar.Text}");
                return;
            }
            using (instance)
            {
                string? error = SchemaValidator.Validate(schema.RootElement, instance.RootElement);
                Assert.True(error is null, context + $"output {text}\nfails: {error}\n{grammar.Text}");
            }
        }
    }
}
