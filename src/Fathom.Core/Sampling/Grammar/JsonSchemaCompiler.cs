using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Fathom.Sampling;

/// <summary>Builds GBNF for one schema: one named rule per subschema, shared primitive rules, references as rules.</summary>
internal sealed class JsonSchemaCompiler
{
    public const string JsonObjectGbnf = """
        root ::= object
        value ::= object | array | string | number | boolean | null
        object ::= "{" space ( string ":" space value ( "," space string ":" space value )* )? "}" space
        array ::= "[" space ( value ( "," space value )* )? "]" space
        string ::= "\"" char* "\"" space
        char ::= [^"\\\x7F\x00-\x1F] | [\\] ( ["\\/bfnrt] | "u" hex-scalar )
        hex-scalar ::= [0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}
        number ::= integral ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )? space
        integral ::= "-"? ( [0] | [1-9] [0-9]{0,15} )
        boolean ::= ( "true" | "false" ) space
        null ::= "null" space
        space ::= | " " | "\n" [ \t]{0,20}

        """;

    // Primitive rules in dependency order; a rule is emitted when something uses it.
    private static readonly (string Name, string Body, string[] Uses)[] Primitives =
    [
        ("space", "| \" \" | \"\\n\" [ \\t]{0,20}", []),
        ("char", "[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ( [\"\\\\/bfnrt] | \"u\" hex-scalar )", ["hex-scalar"]),
        ("hex-scalar", "[0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}", []),
        ("string", "\"\\\"\" char* \"\\\"\" space", ["char", "space"]),
        ("number", "integral ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )? space", ["integral", "space"]),
        ("integral", "\"-\"? ( [0] | [1-9] [0-9]{0,15} )", []),
        ("integer", "integral space", ["integral", "space"]),
        ("boolean", "( \"true\" | \"false\" ) space", ["space"]),
        ("null", "\"null\" space", ["space"]),
        ("value", "object | array | string | number | boolean | null", ["object", "array", "string", "number", "boolean", "null"]),
        ("object", "\"{\" space ( string \":\" space value ( \",\" space string \":\" space value )* )? \"}\" space", ["string", "space", "value"]),
        ("array", "\"[\" space ( value ( \",\" space value )* )? \"]\" space", ["value", "space"]),
        ("date", "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )", []),
        ("time", "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? ( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )", []),
        ("date-time", "date \"T\" time", ["date", "time"]),
        ("uuid", "hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}", ["hex"]),
        ("hex", "[0-9a-fA-F]", []),
        ("email", "[a-zA-Z0-9_%+-]{1,32} ( \".\" [a-zA-Z0-9_%+-]{1,32} ){0,3} \"@\" dns-label ( \".\" dns-label ){1,4}", ["dns-label"]),
        ("dns-label", "[a-zA-Z0-9] ( [a-zA-Z0-9-]{0,30} [a-zA-Z0-9] )?", []),
        ("ipv4", "octet \".\" octet \".\" octet \".\" octet", ["octet"]),
        ("octet", "\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9]", []),
        ("uri", "[a-zA-Z] [a-zA-Z0-9+.-]{0,15} \":\" [a-zA-Z0-9._~:/?#@!$&'()*+,;=%-]{1,200}", []),
    ];

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated",
        "readOnly", "writeOnly", "$defs", "definitions", "nullable", "strict", "name", "contentMediaType",
    };

    private static readonly HashSet<string> Unsupported = new(StringComparer.Ordinal)
    {
        "pattern", "patternProperties", "propertyNames", "minProperties", "maxProperties", "not", "allOf", "if", "then",
        "else", "dependentRequired", "dependentSchemas", "dependencies", "uniqueItems", "contains", "minContains",
        "maxContains", "multipleOf", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
        "additionalItems", "contentEncoding",
    };

    private readonly JsonElement _root;
    private readonly JsonSchemaGrammarOptions _options;
    private readonly List<(string Name, string Body)> _rules = [];
    private readonly Dictionary<string, string> _byBody = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _primitivesUsed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);

    // references being expanded with no object or array opened since: meeting one again is an infinite value
    private HashSet<string> _openRefs = new(StringComparer.Ordinal);

    public JsonSchemaCompiler(JsonElement root, JsonSchemaGrammarOptions options)
    {
        _root = root;
        _options = options;
        if (options.MaxDepth < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxDepth must be at least 1");
        if (!options.RulePrefix.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            throw new ArgumentException("RulePrefix may hold only ASCII letters, digits and '-'", nameof(options));
    }

    /// <summary>GBNF for the subschema at <paramref name="pointer"/> (a JSON pointer, "" for the whole document); references resolve against the document.</summary>
    public string Compile(string pointer = "")
    {
        string body = Schema(pointer.Length == 0 ? _root : Resolve(pointer, pointer), pointer, 0);
        var sb = new StringBuilder();
        sb.Append(_options.RulePrefix).Append("root ::= ").Append(body).Append('\n');
        foreach (var (name, rule) in _rules)
            sb.Append(name).Append(" ::= ").Append(rule).Append('\n');
        foreach (var (name, rule, _) in Primitives)
        {
            if (!_primitivesUsed.Contains(name))
                continue;
            string text = name == "space" && _options.Compact ? "\"\"" : rule;
            sb.Append(name).Append(" ::= ").Append(text).Append('\n');
        }
        return sb.ToString();
    }

    private string Use(string primitive)
    {
        if (_primitivesUsed.Add(primitive))
            foreach (var p in Primitives)
                if (p.Name == primitive)
                    foreach (string dep in p.Uses)
                        Use(dep);
        return primitive;
    }

    /// <summary>A rule holding <paramref name="body"/> (identical bodies share one rule); returns its name.</summary>
    private string Rule(string hint, string body)
    {
        if (_byBody.TryGetValue(body, out string? existing))
            return existing;
        string name = FreshName(hint);
        _rules.Add((name, body));
        _byBody[body] = name;
        return name;
    }

    private string FreshName(string hint)
    {
        var sb = new StringBuilder();
        foreach (char c in hint)
            sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        string baseName = sb.Length == 0 ? "schema" : sb.ToString().Trim('-');
        if (baseName.Length == 0 || baseName == "root")
            baseName = "schema";
        if (baseName.Length > 40)
            baseName = baseName[..40];
        string name = baseName;
        for (int i = 1; _names.Contains(name) || IsPrimitive(name); i++)
            name = $"{baseName}-{i}";
        _names.Add(name);
        return _options.RulePrefix + name;
    }

    /// <summary>A primitive rule (e.g. <c>date</c>, <c>char</c>) and the primitives it uses, as GBNF rule lines.</summary>
    internal static IEnumerable<string> PrimitiveRules(string name)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([name]);
        while (stack.Count > 0)
        {
            string n = stack.Pop();
            if (!seen.Add(n))
                continue;
            var p = Array.Find(Primitives, x => x.Name == n);
            if (p.Name is null)
                throw new ArgumentException($"no primitive rule '{n}'", nameof(name));
            yield return $"{p.Name} ::= {p.Body}";
            foreach (string dep in p.Uses)
                stack.Push(dep);
        }
    }

    private static bool IsPrimitive(string name) => Array.Exists(Primitives, p => p.Name == name) || name == "root";

    private static JsonSchemaException Invalid(string message, string pointer) => new(message, pointer);

    private static JsonSchemaException NotSupported(string feature, string pointer, string? detail = null)
        => new($"'{feature}' is not supported{(detail is null ? "" : ": " + detail)}", pointer, feature);

    private static string Ptr(string pointer, string token)
        => pointer + "/" + token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    private static string Hint(string pointer)
    {
        int slash = pointer.LastIndexOf('/');
        return slash < 0 ? "schema" : pointer[(slash + 1)..];
    }

    /// <summary>The GBNF expression (usually a rule name) matching a value of <paramref name="schema"/> plus trailing space.</summary>
    private string Schema(JsonElement schema, string pointer, int depth)
    {
        if (depth > _options.MaxDepth)
            throw new JsonSchemaException($"the schema nests deeper than {_options.MaxDepth} levels (recursion limit)", pointer, "depth");
        if (schema.ValueKind == JsonValueKind.True)
            return Use("value");
        if (schema.ValueKind == JsonValueKind.False)
            throw Invalid("the schema 'false' allows no value", pointer);
        if (schema.ValueKind != JsonValueKind.Object)
            throw Invalid($"a schema must be an object or a boolean, not {schema.ValueKind}", pointer);

        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in schema.EnumerateObject())
        {
            if (Unsupported.Contains(p.Name))
                throw NotSupported(p.Name, Ptr(pointer, p.Name));
            present.Add(p.Name);
        }

        if (schema.TryGetProperty("$ref", out var reference))
        {
            foreach (string k in present)
                if (k != "$ref" && !Annotations.Contains(k))
                    throw NotSupported(k, Ptr(pointer, k), "keywords beside $ref");
            return Ref(reference, Ptr(pointer, "$ref"), depth);
        }
        if (schema.TryGetProperty("const", out var constant))
            return Rule(Hint(pointer), Literal(constant) + " " + Use("space"));
        if (schema.TryGetProperty("enum", out var values))
            return Enum(schema, values, pointer);
        foreach (string key in (string[])["anyOf", "oneOf"])
        {
            if (!schema.TryGetProperty(key, out var alternatives))
                continue;
            if (alternatives.ValueKind != JsonValueKind.Array || alternatives.GetArrayLength() == 0)
                throw Invalid($"'{key}' must be a non-empty array of schemas", Ptr(pointer, key));
            foreach (string k in present)
                if (k != key && !Annotations.Contains(k) && k != "type")
                    throw NotSupported(k, Ptr(pointer, k), $"keywords beside {key}");
            var parts = new List<string>();
            int i = 0;
            foreach (var alt in alternatives.EnumerateArray())
                parts.Add(Schema(alt, Ptr(Ptr(pointer, key), (i++).ToString(CultureInfo.InvariantCulture)), depth + 1));
            return Rule(Hint(pointer), string.Join(" | ", parts));
        }

        var types = Types(schema, pointer);
        if (types.Count == 1)
            return Typed(types[0], schema, pointer, depth);
        var all = new List<string>();
        foreach (string t in types)
            all.Add(Typed(t, schema, pointer, depth));
        return Rule(Hint(pointer), string.Join(" | ", all));
    }

    private static List<string> Types(JsonElement schema, string pointer)
    {
        var types = new List<string>();
        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String)
            {
                types.Add(type.GetString()!);
            }
            else if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0)
            {
                foreach (var t in type.EnumerateArray())
                {
                    if (t.ValueKind != JsonValueKind.String)
                        throw Invalid("'type' entries must be strings", Ptr(pointer, "type"));
                    types.Add(t.GetString()!);
                }
            }
            else
            {
                throw Invalid("'type' must be a string or a non-empty array of strings", Ptr(pointer, "type"));
            }
            foreach (string t in types)
                if (t is not ("object" or "array" or "string" or "number" or "integer" or "boolean" or "null"))
                    throw Invalid($"unknown type '{t}'", Ptr(pointer, "type"));
            return types;
        }
        bool Has(string k) => schema.TryGetProperty(k, out _);
        if (Has("properties") || Has("required") || Has("additionalProperties"))
            types.Add("object");
        if (Has("items") || Has("prefixItems") || Has("minItems") || Has("maxItems"))
            types.Add("array");
        if (Has("minLength") || Has("maxLength") || Has("format"))
            types.Add("string");
        if (Has("minimum") || Has("maximum") || Has("exclusiveMinimum") || Has("exclusiveMaximum"))
            types.Add("number");
        if (types.Count == 0)
            types.Add("any");
        return types;
    }

    private string Typed(string type, JsonElement schema, string pointer, int depth) => type switch
    {
        "object" => ObjectSchema(schema, pointer, depth),
        "array" => ArraySchema(schema, pointer, depth),
        "string" => StringSchema(schema, pointer),
        "integer" => Integer(schema, pointer),
        "number" => Number(schema, pointer),
        "boolean" => Use("boolean"),
        "null" => Use("null"),
        _ => Use("value"),
    };

    private string Ref(JsonElement reference, string pointer, int depth)
    {
        if (reference.ValueKind != JsonValueKind.String)
            throw Invalid("'$ref' must be a string", pointer);
        string target = reference.GetString()!;
        if (_openRefs.Contains(target))
            throw Invalid($"'$ref' to '{target}' refers back to itself without an object or array in between (the value would be infinite)", pointer);
        if (_refRules.TryGetValue(target, out string? rule))
            return rule;
        if (!target.StartsWith('#'))
            throw NotSupported("$ref", pointer, $"only references inside the document (#/...) are supported, not '{target}'");
        var resolved = Resolve(target[1..], pointer);
        string targetPointer = target[1..];
        rule = FreshName("ref-" + Hint(targetPointer.Length == 0 ? "/root" : targetPointer));
        _refRules[target] = rule;
        // registered before compiling the body, so a recursive reference becomes a recursive rule
        int slot = _rules.Count;
        _rules.Add((rule, ""));
        _openRefs.Add(target);
        string body = Schema(resolved, targetPointer, depth + 1);
        _openRefs.Remove(target);
        _rules[slot] = (rule, body);
        return rule;
    }

    private JsonElement Resolve(string pointer, string at)
    {
        var node = _root;
        if (pointer.Length == 0)
            return node;
        if (!pointer.StartsWith('/'))
            throw NotSupported("$ref", at, $"'#{pointer}' is not a JSON pointer (anchors are not supported)");
        foreach (string raw in pointer[1..].Split('/'))
        {
            string token = Uri.UnescapeDataString(raw).Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty(token, out var child))
                node = child;
            else if (node.ValueKind == JsonValueKind.Array && int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < node.GetArrayLength())
                node = node[i];
            else
                throw Invalid($"'$ref' target '#{pointer}' does not exist", at);
        }
        return node;
    }

    private string Enum(JsonElement schema, JsonElement values, string pointer)
    {
        if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
            throw Invalid("'enum' must be a non-empty array", Ptr(pointer, "enum"));
        List<string>? types = schema.TryGetProperty("type", out _) ? Types(schema, pointer) : null;
        var parts = new List<string>();
        foreach (var v in values.EnumerateArray())
            if (types is null || types.Exists(t => MatchesType(v, t)))
                parts.Add(Literal(v));
        if (parts.Count == 0)
            throw Invalid("no 'enum' value has the schema's 'type'", Ptr(pointer, "enum"));
        return Rule(Hint(pointer), "( " + string.Join(" | ", parts) + " ) " + Use("space"));
    }

    private static bool MatchesType(JsonElement v, string type) => type switch
    {
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && v.TryGetDecimal(out decimal d) && d == decimal.Truncate(d),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => v.ValueKind == JsonValueKind.Null,
        "object" => v.ValueKind == JsonValueKind.Object,
        "array" => v.ValueKind == JsonValueKind.Array,
        _ => true,
    };

    /// <summary>A GBNF literal for exactly the compact JSON text of <paramref name="value"/>.</summary>
    private static string Literal(JsonElement value)
    {
        var json = new StringBuilder();
        WriteJson(value, json);
        return GbnfLiteral(json.ToString());
    }

    private static void WriteJson(JsonElement v, StringBuilder sb)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.Object:
                sb.Append('{');
                bool first = true;
                foreach (var p in v.EnumerateObject())
                {
                    if (!first)
                        sb.Append(',');
                    first = false;
                    WriteString(p.Name, sb);
                    sb.Append(':');
                    WriteJson(p.Value, sb);
                }
                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                bool firstItem = true;
                foreach (var item in v.EnumerateArray())
                {
                    if (!firstItem)
                        sb.Append(',');
                    firstItem = false;
                    WriteJson(item, sb);
                }
                sb.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(v.GetString()!, sb);
                break;
            default:
                sb.Append(v.GetRawText());
                break;
        }
    }

    internal static void WriteString(string s, StringBuilder sb)
    {
        sb.Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                        sb.Append(c).Append(s[++i]);
                    else if (c < 0x20 || c == 0x7F || char.IsSurrogate(c))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Text as a GBNF string literal.</summary>
    internal static string GbnfLiteral(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7F)
                        sb.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    private string ObjectSchema(JsonElement schema, string pointer, int depth) => Nested(schema, pointer, depth, ObjectBody);

    // An object or array breaks a $ref cycle: inside it, the refs open around it may recur.
    private string Nested(JsonElement schema, string pointer, int depth, Func<JsonElement, string, int, string> body)
    {
        var open = _openRefs;
        _openRefs = new(StringComparer.Ordinal);
        try
        {
            return body(schema, pointer, depth);
        }
        finally
        {
            _openRefs = open;
        }
    }

    private string ObjectBody(JsonElement schema, string pointer, int depth)
    {
        var names = new List<string>();
        var valueRules = new Dictionary<string, string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("properties", out var props))
        {
            if (props.ValueKind != JsonValueKind.Object)
                throw Invalid("'properties' must be an object", Ptr(pointer, "properties"));
            foreach (var p in props.EnumerateObject())
            {
                names.Add(p.Name);
                valueRules[p.Name] = Schema(p.Value, Ptr(Ptr(pointer, "properties"), p.Name), depth + 1);
            }
        }
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array)
                throw Invalid("'required' must be an array of strings", Ptr(pointer, "required"));
            foreach (var r in req.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.String)
                    throw Invalid("'required' must be an array of strings", Ptr(pointer, "required"));
                string name = r.GetString()!;
                required.Add(name);
                if (!valueRules.ContainsKey(name))
                {
                    names.Add(name);
                    valueRules[name] = Use("value");
                }
            }
        }
        string? additional = null;
        if (schema.TryGetProperty("additionalProperties", out var extra))
        {
            if (extra.ValueKind == JsonValueKind.True)
                additional = Use("value");
            else if (extra.ValueKind == JsonValueKind.Object)
                additional = Schema(extra, Ptr(pointer, "additionalProperties"), depth + 1);
            else if (extra.ValueKind != JsonValueKind.False)
                throw Invalid("'additionalProperties' must be a boolean or a schema", Ptr(pointer, "additionalProperties"));
        }
        else if (_options.AllowAdditionalPropertiesByDefault)
        {
            additional = Use("value");
        }

        string hint = Hint(pointer);
        string space = Use("space");
        // slots in declared order; chain rules track whether a member has been written (for the comma)
        var slots = new List<(string Member, bool Optional)>();
        foreach (string name in names)
        {
            var member = Rule(hint + "-" + name + "-kv", GbnfLiteral(JsonString(name)) + " " + space + " \":\" " + space + " " + valueRules[name]);
            slots.Add((member, !required.Contains(name)));
        }
        string? extraMember = null;
        if (additional is not null)
        {
            string key = names.Count == 0 ? Use("string") : ExcludingKey(names, hint);
            extraMember = Rule(hint + "-additional-kv", key + " \":\" " + space + " " + additional);
        }
        string afterFirst = extraMember is null ? "" : $"( \",\" {space} {extraMember} )*";
        string noneYet = extraMember is null ? "" : $"( {extraMember} ( \",\" {space} {extraMember} )* )?";
        // walk backwards: seen_i = the members from slot i on, given one was already written (and not)
        string seen = afterFirst.Length == 0 ? "" : Rule(hint + "-rest", afterFirst);
        string none = noneYet.Length == 0 ? "" : Rule(hint + "-rest", noneYet);
        for (int i = slots.Count - 1; i >= 0; i--)
        {
            var (member, optional) = slots[i];
            string withComma = $"\",\" {space} {member} {seen}".TrimEnd();
            string first = $"{member} {seen}".TrimEnd();
            // an empty alternative is written as ( … )?: a trailing '|' would continue onto the next line
            string seenBody = !optional ? withComma : seen.Length == 0 ? $"( {withComma} )?" : $"{withComma} | {seen}";
            string noneBody = !optional ? first : none.Length == 0 ? $"( {first} )?" : $"{first} | {none}";
            string nextSeen = Rule(hint + "-after", seenBody.TrimEnd());
            string nextNone = Rule(hint + "-from", noneBody.TrimEnd());
            seen = nextSeen;
            none = nextNone;
        }
        return Rule(hint, $"\"{{\" {space} {none} \"}}\" {space}".Replace("  ", " ", StringComparison.Ordinal));
    }

    private static string JsonString(string s)
    {
        var sb = new StringBuilder();
        WriteString(s, sb);
        return sb.ToString();
    }

    /// <summary>
    /// A JSON string key that is none of <paramref name="names"/>: a trie over the names as they are written (escaped),
    /// left by a plain character no name has at that point; escapes only inside a name's own escape or after leaving.
    /// </summary>
    private string ExcludingKey(List<string> names, string hint)
    {
        var root = new KeyTrie();
        foreach (string n in names)
        {
            string encoded = JsonString(n)[1..^1];
            var node = root;
            int escapeLeft = 0;
            bool afterBackslash = false;
            foreach (var rune in encoded.EnumerateRunes())
            {
                if (!node.Children.TryGetValue(rune.Value, out var child))
                    node.Children[rune.Value] = child = new KeyTrie();
                node = child;
                if (afterBackslash)
                {
                    afterBackslash = false;
                    escapeLeft = rune.Value == 'u' ? 4 : 0;
                }
                else if (escapeLeft > 0)
                {
                    escapeLeft--;
                }
                else if (rune.Value == '\\')
                {
                    afterBackslash = true;
                }
                node.InEscape |= afterBackslash || escapeLeft > 0;
            }
            node.Terminal = true;
        }
        string chr = Use("char");
        string tail = Rule(hint + "-key-tail", $"{chr}* \"\\\"\" {Use("space")}");
        string Node(KeyTrie node, string name)
        {
            var alts = new List<string>();
            if (!node.Terminal && !node.InEscape)
                alts.Add($"\"\\\"\" {Use("space")}");
            var excluded = new List<int>();
            foreach (var (cp, child) in node.Children.OrderBy(kv => kv.Key))
            {
                excluded.Add(cp);
                string childRule = Node(child, name + "x");
                alts.Add($"{GbnfLiteral(char.ConvertFromUtf32(cp))} {childRule}");
            }
            if (!node.InEscape)
            {
                // any other plain character leaves every name behind (escaped characters are never plain ones)
                var cls = new StringBuilder("[^\"\\\\\\x7F\\x00-\\x1F");
                foreach (int cp in excluded)
                    cls.Append(ClassChar(cp));
                cls.Append(']');
                alts.Add($"{cls} {tail}");
            }
            return Rule(name, string.Join(" | ", alts));
        }
        return "\"\\\"\" " + Node(root, hint + "-key");
    }

    private static string ClassChar(int cp) => cp switch
    {
        '\\' => "\\\\",
        ']' => "\\]",
        '[' => "\\[",
        '-' => "\\-",
        '^' => "\\^",
        '"' => "\\\"",
        _ when cp < 0x20 || cp == 0x7F => $"\\x{cp:X2}",
        _ => char.ConvertFromUtf32(cp),
    };

    private sealed class KeyTrie
    {
        public bool Terminal;
        public bool InEscape;
        public Dictionary<int, KeyTrie> Children { get; } = [];
    }

    private string ArraySchema(JsonElement schema, string pointer, int depth) => Nested(schema, pointer, depth, ArrayBody);

    private string ArrayBody(JsonElement schema, string pointer, int depth)
    {
        int min = NonNegative(schema, "minItems", pointer) ?? 0;
        int? max = NonNegative(schema, "maxItems", pointer);
        var prefix = new List<string>();
        if (schema.TryGetProperty("prefixItems", out var prefixItems))
        {
            if (prefixItems.ValueKind != JsonValueKind.Array)
                throw Invalid("'prefixItems' must be an array of schemas", Ptr(pointer, "prefixItems"));
            int i = 0;
            foreach (var p in prefixItems.EnumerateArray())
                prefix.Add(Schema(p, Ptr(Ptr(pointer, "prefixItems"), (i++).ToString(CultureInfo.InvariantCulture)), depth + 1));
        }
        string? item = Use("value");
        if (schema.TryGetProperty("items", out var items))
        {
            if (items.ValueKind == JsonValueKind.False)
                item = null;
            else if (items.ValueKind == JsonValueKind.Array)
                throw NotSupported("items", Ptr(pointer, "items"), "an array of schemas (use prefixItems)");
            else
                item = Schema(items, Ptr(pointer, "items"), depth + 1);
        }
        if (item is null)
            max = Math.Min(max ?? prefix.Count, prefix.Count);
        if (max is { } mx && mx < min)
            throw Invalid($"minItems {min} is larger than the items the array may hold ({mx})", pointer);
        string space = Use("space");
        string hint = Hint(pointer);
        string Element(int i) => i < prefix.Count ? prefix[i] : item!;
        string content = "";
        if (max != 0)
        {
            // explicit positions up to the last that is required or has its own schema (at least one), then a repeat of 'item'
            int explicitCount = Math.Max(Math.Max(min, prefix.Count), 1);
            if (max is { } cap)
                explicitCount = Math.Min(explicitCount, cap);
            string rest;
            if (item is null || (max is { } m2 && m2 <= explicitCount))
                rest = "";
            else if (max is { } m3)
                rest = $"( \",\" {space} {item} ){{0,{m3 - explicitCount}}}";
            else
                rest = $"( \",\" {space} {item} )*";
            // tail_i: the elements from position i on, after position i - 1 was written
            string tail = rest.Length == 0 ? "" : Rule(hint + "-tail", rest);
            for (int i = explicitCount - 1; i >= 1; i--)
            {
                string body = $"\",\" {space} {Element(i)} {tail}".TrimEnd();
                tail = Rule(hint + "-tail", i >= min ? $"( {body} )?" : body);
            }
            string firstBody = $"{Element(0)} {tail}".TrimEnd();
            content = min >= 1 ? firstBody : $"( {firstBody} )?";
        }
        return Rule(hint, $"\"[\" {space} {content} \"]\" {space}".Replace("  ", " ", StringComparison.Ordinal));
    }

    private static int? NonNegative(JsonElement schema, string key, string pointer)
    {
        if (!schema.TryGetProperty(key, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDecimal(out decimal d) || d < 0 || d != decimal.Truncate(d))
            throw Invalid($"'{key}' must be a non-negative integer", Ptr(pointer, key));
        if (d > 100_000)
            throw NotSupported(key, Ptr(pointer, key), "values above 100000");
        return (int)d;
    }

    private string StringSchema(JsonElement schema, string pointer)
    {
        int? minLength = NonNegative(schema, "minLength", pointer);
        int? maxLength = NonNegative(schema, "maxLength", pointer);
        if (schema.TryGetProperty("format", out var format))
        {
            if (format.ValueKind != JsonValueKind.String)
                throw Invalid("'format' must be a string", Ptr(pointer, "format"));
            string f = format.GetString()!;
            if (f is not ("date" or "time" or "date-time" or "uuid" or "email" or "ipv4" or "uri"))
                throw NotSupported("format", Ptr(pointer, "format"), $"format '{f}' (supported: date, time, date-time, uuid, email, ipv4, uri)");
            if (minLength is not null || maxLength is not null)
                throw NotSupported("format", Ptr(pointer, "format"), "minLength/maxLength together with a format");
            return Rule(f + "-string", $"\"\\\"\" {Use(f)} \"\\\"\" {Use("space")}");
        }
        int lo = minLength ?? 0;
        if (maxLength is { } hi && hi < lo)
            throw Invalid($"minLength {lo} is larger than maxLength {hi}", pointer);
        if (minLength is null && maxLength is null)
            return Use("string");
        string chr = Use("char");
        string repeat = maxLength is { } h ? (h == lo ? $"{{{lo}}}" : $"{{{lo},{h}}}") : $"{{{lo},}}";
        return Rule(Hint(pointer) + "-string", $"\"\\\"\" {chr}{repeat} \"\\\"\" {Use("space")}");
    }

    private string Integer(JsonElement schema, string pointer)
    {
        var (lo, hi) = IntegerBounds(schema, pointer);
        if (lo is null && hi is null)
            return Use("integer");
        if (lo is { } a && hi is { } b && a > b)
            throw Invalid($"no integer lies between the bounds ({a} > {b})", pointer);
        return Rule(Hint(pointer) + "-int", $"( {IntegerRange.Gbnf(lo, hi)} ) {Use("space")}");
    }

    private string Number(JsonElement schema, string pointer)
    {
        foreach (string k in (string[])["exclusiveMinimum", "exclusiveMaximum"])
            if (schema.TryGetProperty(k, out var e) && e.ValueKind == JsonValueKind.Number)
                throw NotSupported(k, Ptr(pointer, k), "exclusive bounds on 'number' (use minimum/maximum, or 'integer')");
        long? Bound(string k)
        {
            if (!schema.TryGetProperty(k, out var v))
                return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDecimal(out decimal d))
                throw Invalid($"'{k}' must be a number", Ptr(pointer, k));
            if (d != decimal.Truncate(d) || Math.Abs(d) > IntegerRange.Limit)
                throw NotSupported(k, Ptr(pointer, k), "a bound on 'number' that is not a whole number (up to ±" + IntegerRange.Limit + ")");
            return (long)d;
        }
        long? lo = Bound("minimum"), hi = Bound("maximum");
        if (lo is null && hi is null)
            return Use("number");
        if (lo > hi)
            throw Invalid($"minimum {lo} is larger than maximum {hi}", pointer);
        // sign and magnitude: |x| in [a, b] is an integer part in [a, b - 1] with any fraction, or b with a zero fraction
        static string Magnitude(long a, long? b)
        {
            const string fraction = "( \".\" [0-9]{1,16} )?";
            if (b is not { } top)
                return $"( {IntegerRange.Gbnf(a, null)} ) {fraction}";
            string atTop = $"{IntegerRange.Gbnf(top, top)} ( \".\" [0]{{1,16}} )?";
            return a <= top - 1 ? $"( {IntegerRange.Gbnf(a, top - 1)} ) {fraction} | {atTop}" : atTop;
        }
        var alts = new List<string>();
        if (lo is null || lo < 0)
            alts.Add($"\"-\" ( {Magnitude(hi is { } h && h < 0 ? -h : 0, lo is { } l ? -l : null)} )");
        if (hi is null || hi >= 0)
            alts.Add(Magnitude(Math.Max(lo ?? 0, 0), hi));
        return Rule(Hint(pointer) + "-number", $"( {string.Join(" | ", alts)} ) {Use("space")}");
    }

    private static (long? Lo, long? Hi) IntegerBounds(JsonElement schema, string pointer)
    {
        long? lo = null, hi = null;
        decimal? Read(string key)
        {
            if (!schema.TryGetProperty(key, out var v))
                return null;
            if (v.ValueKind is JsonValueKind.True or JsonValueKind.False)
                return null; // draft-4 boolean exclusives, read with the bound below
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDecimal(out decimal d))
                throw Invalid($"'{key}' must be a number", Ptr(pointer, key));
            if (Math.Abs(d) > IntegerRange.Limit)
                throw NotSupported(key, Ptr(pointer, key), $"integer bounds beyond ±{IntegerRange.Limit}");
            return d;
        }
        bool Draft4Exclusive(string key) => schema.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;
        if (Read("minimum") is { } min)
            lo = (long)Math.Ceiling(min) + (Draft4Exclusive("exclusiveMinimum") && min == Math.Ceiling(min) ? 1 : 0);
        if (Read("exclusiveMinimum") is { } emin)
            lo = Math.Max(lo ?? long.MinValue, (long)Math.Floor(emin) + 1);
        if (Read("maximum") is { } max)
            hi = (long)Math.Floor(max) - (Draft4Exclusive("exclusiveMaximum") && max == Math.Floor(max) ? 1 : 0);
        if (Read("exclusiveMaximum") is { } emax)
            hi = Math.Min(hi ?? long.MaxValue, (long)Math.Ceiling(emax) - 1);
        return (lo, hi);
    }
}

/// <summary>GBNF for decimal integers in a range, digit by digit (no leading zeros, no "-0").</summary>
internal static class IntegerRange
{
    public const long Limit = 999_999_999_999_999L;
    private const int MaxDigits = 16;

    public static string Gbnf(long? lo, long? hi)
    {
        var alts = new List<string>();
        // negatives: magnitudes in [max(1, -hi), -lo]
        if (lo is null || lo < 0)
        {
            long magLo = hi is { } h && h < 0 ? -h : 1;
            long? magHi = lo is { } l ? -l : null;
            if (magHi is null || magLo <= magHi)
                alts.Add("\"-\" ( " + NonNegative(magLo, magHi) + " )");
        }
        if (hi is null || hi >= 0)
        {
            long from = Math.Max(lo ?? 0, 0);
            if (hi is null || from <= hi)
                alts.Add(NonNegative(from, hi));
        }
        return string.Join(" | ", alts);
    }

    private static string NonNegative(long lo, long? hi)
    {
        var alts = new List<string>();
        int loDigits = Digits(lo);
        int hiDigits = hi is { } h ? Digits(h) : MaxDigits;
        for (int d = loDigits; d <= hiDigits; d++)
        {
            long first = d == 1 ? 0 : Pow10(d - 1);
            long last = Pow10(d) - 1;
            long a = Math.Max(first, lo), b = hi is { } hh ? Math.Min(last, hh) : last;
            if (a <= b)
                Same(a.ToString(CultureInfo.InvariantCulture), b.ToString(CultureInfo.InvariantCulture), alts, "");
        }
        return string.Join(" | ", alts);
    }

    /// <summary>Alternatives for [lo, hi] where both have the same number of digits.</summary>
    private static void Same(string lo, string hi, List<string> alts, string prefix)
    {
        int n = lo.Length;
        if (n == 0)
        {
            alts.Add(prefix.Length == 0 ? "\"\"" : prefix.TrimEnd());
            return;
        }
        if (lo[0] == hi[0])
        {
            Same(lo[1..], hi[1..], alts, prefix + $"[{lo[0]}] ");
            return;
        }
        bool loZeros = lo.AsSpan(1).IndexOfAnyExcept('0') < 0;
        bool hiNines = hi.AsSpan(1).IndexOfAnyExcept('9') < 0;
        char midLo = loZeros ? lo[0] : (char)(lo[0] + 1);
        char midHi = hiNines ? hi[0] : (char)(hi[0] - 1);
        if (!loZeros)
            Same(lo[1..], new string('9', n - 1), alts, prefix + $"[{lo[0]}] ");
        if (midLo <= midHi)
            alts.Add((prefix + $"[{midLo}-{midHi}]" + (n > 1 ? $" [0-9]{{{n - 1}}}" : "")).TrimEnd());
        if (!hiNines)
            Same(new string('0', n - 1), hi[1..], alts, prefix + $"[{hi[0]}] ");
    }

    private static int Digits(long v) => v.ToString(CultureInfo.InvariantCulture).Length;

    private static long Pow10(int d)
    {
        long p = 1;
        for (int i = 0; i < d; i++)
            p *= 10;
        return p;
    }
}
