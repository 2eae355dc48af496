using System.Text.Json;

namespace Fathom.Sampling;

/// <summary>How <see cref="JsonSchemaGrammar"/> reads a schema.</summary>
public sealed record JsonSchemaGrammarOptions
{
    /// <summary>
    /// Whether an object schema without <c>additionalProperties</c> allows properties it does not declare (JSON
    /// Schema's default). OpenAI strict mode and tool arguments usually want false.
    /// </summary>
    public bool AllowAdditionalPropertiesByDefault { get; init; } = true;

    /// <summary>Deepest nesting of subschemas (and of <c>$ref</c> chains) the compiler follows before giving up.</summary>
    public int MaxDepth { get; init; } = 64;

    /// <summary>Emit no whitespace between tokens (shorter output, fewer choices for the model).</summary>
    public bool Compact { get; init; }

    /// <summary>
    /// Put before the schema's own rule names (its root included: <c>{prefix}root</c>), so several compiled schemas can
    /// share one grammar; the shared primitive rules (string, number, space…) keep their names and identical bodies.
    /// ASCII letters, digits and '-' only.
    /// </summary>
    public string RulePrefix { get; init; } = "";

    public static JsonSchemaGrammarOptions Default { get; } = new();
}

/// <summary>
/// JSON Schema → GBNF. Supports type (incl. arrays of types), properties / required / additionalProperties,
/// enum, const, anyOf / oneOf (treated as anyOf), items / prefixItems with minItems / maxItems, string
/// minLength / maxLength and formats (date, time, date-time, uuid, email, ipv4, uri), integer bounds,
/// number with whole-number minimum / maximum, $ref into $defs / definitions (recursive references become
/// recursive rules). Anything else that constrains values is a <see cref="JsonSchemaException"/> naming the keyword and its JSON pointer.
/// </summary>
public static class JsonSchemaGrammar
{
    /// <summary>GBNF for any JSON object (OpenAI <c>response_format: json_object</c>).</summary>
    public static string JsonObjectGbnf { get; } = JsonSchemaCompiler.JsonObjectGbnf;

    /// <summary>The grammar of <see cref="JsonObjectGbnf"/>.</summary>
    public static Grammar JsonObject => LazyJsonObject.Value;

    private static readonly Lazy<Grammar> LazyJsonObject = new(() => Grammar.Parse(JsonObjectGbnf));

    /// <summary>Translates a schema to GBNF text (root rule <c>root</c>).</summary>
    public static string ToGbnf(JsonElement schema, JsonSchemaGrammarOptions? options = null)
        => new JsonSchemaCompiler(schema, options ?? JsonSchemaGrammarOptions.Default).Compile();

    /// <summary>Translates and parses a schema.</summary>
    public static Grammar Compile(JsonElement schema, JsonSchemaGrammarOptions? options = null)
    {
        string gbnf = ToGbnf(schema, options);
        try
        {
            return Grammar.Parse(gbnf);
        }
        catch (GrammarException ex)
        {
            // the compiler writes only valid GBNF, so what remains is a schema with no finite value
            throw new JsonSchemaException($"the schema allows no finite JSON value ({ex.Reason})", "");
        }
    }

    /// <summary>Parses schema text (a <see cref="JsonSchemaException"/> when it is not JSON) and compiles it.</summary>
    public static Grammar Compile(string schemaJson, JsonSchemaGrammarOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(schemaJson, new JsonDocumentOptions { MaxDepth = 1024 });
        }
        catch (JsonException ex)
        {
            throw new JsonSchemaException($"the schema is not valid JSON: {ex.Message}", "");
        }
        using (doc)
            return Compile(doc.RootElement, options);
    }
}
