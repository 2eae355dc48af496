using System.Globalization;
using System.Text;
using System.Text.Json;
using Fathom.Sampling;

namespace Fathom.Tools;

/// <summary>
/// How to force a tool call: <see cref="Prefix"/> is placed after the prompt (it opens a call, in the family's own
/// special tokens), and the generated text after it must match <see cref="Grammar"/>.
/// </summary>
public sealed record ToolCallConstraint(string Prefix, Grammar Grammar);

/// <summary>
/// One grammar over every declared tool, in a family's call syntax: the tool's name is an alternation of the declared
/// names and, after each name, its arguments follow that tool's JSON Schema (each schema compiled with its own rule
/// prefix). Used for tool_choice any / required (and a named tool in the XML format). A schema the compiler cannot
/// express leaves that tool's arguments as any JSON object (any parameters, in the XML format).
/// </summary>
public static class ToolCallGrammar
{
    private static readonly JsonSchemaGrammarOptions Defaults = new() { AllowAdditionalPropertiesByDefault = false };

    // XML parameter values: raw text that never contains "</" (so it cannot close the parameter early).
    private const string XmlText = "xml-text ::= ( [^<] | \"<\"+ [^/<] )*";
    private const string XmlName = "xml-name ::= [a-zA-Z0-9_.-]+";

    /// <summary>
    /// The prefix and grammar that make the model call one or more of <paramref name="tools"/> (exactly one when
    /// <paramref name="parallel"/> is false) and nothing else.
    /// </summary>
    public static ToolCallConstraint ForAnyTool(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, bool parallel, JsonSchemaGrammarOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tools);
        if (tools.Count == 0)
            throw new ArgumentException("at least one tool is needed to force a call", nameof(tools));
        if (format == ToolCallFormat.None)
            throw new ArgumentException("the 'none' format has no call syntax to force", nameof(format));
        options ??= Defaults;
        var rules = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var alternatives = new List<string>();
        bool xml = format == ToolCallFormat.Qwen3Coder;
        for (int i = 0; i < tools.Count; i++)
        {
            string prefix = $"t{i.ToString(CultureInfo.InvariantCulture)}-";
            string args = xml ? XmlParameters(tools[i].Parameters, prefix, options, rules) : JsonArguments(tools[i].Parameters, prefix, options, rules);
            alternatives.Add(Call(format, tools[i].Name) + " " + args);
        }
        rules.Add("call ::= " + string.Join(" | ", alternatives));
        var (opener, root) = Layout(format, parallel);
        rules.Add("root ::= " + root);
        var sb = new StringBuilder();
        foreach (string rule in rules)
        {
            // primitives (string, space, …) come out of every compiled schema alike: keep one of each
            int at = rule.IndexOf(" ::= ", StringComparison.Ordinal);
            if (names.Add(rule[..at]))
                sb.Append(rule).Append('\n');
        }
        return new ToolCallConstraint(opener, Grammar.Parse(sb.ToString()));
    }

    /// <summary>The text of a call up to its arguments, for one tool name.</summary>
    private static string Call(ToolCallFormat format, string name)
    {
        string json = Lit(JsonSerializer.Serialize(name, ToolJson.Default.String));
        return format switch
        {
            ToolCallFormat.Hermes => $"\"{{\\\"name\\\": \" {json} \", \\\"arguments\\\": \"",
            ToolCallFormat.Llama3 => $"\"{{\\\"name\\\": \" {json} \", \\\"parameters\\\": \"",
            ToolCallFormat.Mistral => $"\"{{\\\"name\\\": \" {json} \", \\\"arguments\\\": \"",
            ToolCallFormat.MistralV11 => Lit(name + "[ARGS]"),
            ToolCallFormat.DeepSeekR1 => Lit($"<｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\n```json\n"),
            ToolCallFormat.CommandR => $"\"{{\\\"tool_name\\\": \" {json} \", \\\"parameters\\\": \"",
            ToolCallFormat.CommandR7B => $"\"{{\\\"tool_call_id\\\": \\\"\" [0-9]{{1,3}} \"\\\", \\\"tool_name\\\": \" {json} \", \\\"parameters\\\": \"",
            ToolCallFormat.Qwen3Coder => Lit($"<function={name}>\n"),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
    }

    /// <summary>The forced opener, and the root rule: one call, or calls in the family's list/repeat form.</summary>
    private static (string Opener, string Root) Layout(ToolCallFormat format, bool parallel)
    {
        string Many(string first, string sep, string last) => parallel ? $"{first} ( {sep} {first} )* {last}".TrimEnd() : $"{first} {last}".TrimEnd();
        return format switch
        {
            ToolCallFormat.Hermes => ("<tool_call>", Many("\"\\n\" call \"}\\n</tool_call>\"", "\"\\n<tool_call>\"", "")),
            ToolCallFormat.Llama3 => ("", Many("call \"}\"", "\"\\n\"", "")),
            ToolCallFormat.Mistral => ("[TOOL_CALLS]", "\"[\" " + Many("call \"}\"", "\", \"", "\"]\"")),
            ToolCallFormat.MistralV11 => ("[TOOL_CALLS]", Many("call", "\"[TOOL_CALLS]\"", "")),
            ToolCallFormat.DeepSeekR1 => ("<｜tool▁calls▁begin｜>", Many("call \"\\n```<｜tool▁call▁end｜>\"", "\"\\n\"", "\"<｜tool▁calls▁end｜>\"")),
            ToolCallFormat.CommandR => ("Action:", "\" ```json\\n[\\n    \" " + Many("call \"}\"", "\",\\n    \"", "\"\\n]\\n```\"")),
            ToolCallFormat.CommandR7B => ("<|START_ACTION|>", "\"[\\n    \" " + Many("call \"}\"", "\",\\n    \"", "\"\\n]<|END_ACTION|>\"")),
            ToolCallFormat.Qwen3Coder => ("<tool_call>", Many("\"\\n\" call \"</function>\\n</tool_call>\"", "\"\\n<tool_call>\"", "")),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
    }

    /// <summary>A tool's JSON arguments: its schema's grammar (rules prefixed), or any object.</summary>
    private static string JsonArguments(JsonElement? schema, string prefix, JsonSchemaGrammarOptions options, List<string> rules)
    {
        if (schema is { } s && TryCompile(s, "", prefix, options) is { } gbnf)
        {
            rules.AddRange(Lines(gbnf));
            return prefix + "root";
        }
        rules.AddRange(Lines(JsonSchemaCompiler.JsonObjectGbnf).Where(l => !l.StartsWith("root ", StringComparison.Ordinal)));
        return "object";
    }

    /// <summary>
    /// A tool's XML parameters (Qwen3-Coder): each declared property as <c>&lt;parameter=NAME&gt;\nVALUE\n&lt;/parameter&gt;\n</c>
    /// in declared order, required ones always, optional ones maybe. String values are raw text (see
    /// <see cref="XmlToolValues.IsRawString"/>), other values JSON per the property's schema.
    /// </summary>
    private static string XmlParameters(JsonElement? schema, string prefix, JsonSchemaGrammarOptions options, List<string> rules)
    {
        string Generic()
        {
            rules.Add(XmlText);
            rules.Add(XmlName);
            return "( \"<parameter=\" xml-name \">\\n\" xml-text \"\\n</parameter>\\n\" )*";
        }
        if (schema is not { ValueKind: JsonValueKind.Object } s || !XmlToolValues.IsPlainObject(s))
            return Generic();
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (s.TryGetProperty("required", out var req) && req.ValueKind == JsonValueKind.Array)
            foreach (var r in req.EnumerateArray())
                if (r.ValueKind == JsonValueKind.String)
                    required.Add(r.GetString()!);
        var order = new List<(string Name, string? Pointer)>();
        if (s.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object)
            foreach (var p in props.EnumerateObject())
                order.Add((p.Name, "/properties/" + p.Name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal)));
        foreach (string r in required)
            if (!order.Exists(o => o.Name == r))
                order.Add((r, null));
        var parts = new List<string>();
        int k = 0;
        foreach (var (name, pointer) in order)
        {
            string value = XmlValue(s, pointer, $"{prefix}p{(k++).ToString(CultureInfo.InvariantCulture)}-", options, rules);
            string param = $"{Lit($"<parameter={name}>\n")} {value} \"\\n</parameter>\\n\"";
            parts.Add(required.Contains(name) ? param : $"( {param} )?");
        }
        return parts.Count == 0 ? "\"\"" : string.Join(" ", parts);
    }

    private static string XmlValue(JsonElement root, string? pointer, string prefix, JsonSchemaGrammarOptions options, List<string> rules)
    {
        if (pointer is null)
        {
            rules.AddRange(Lines(JsonSchemaCompiler.JsonObjectGbnf).Where(l => !l.StartsWith("root ", StringComparison.Ordinal)));
            return "value";
        }
        var schema = XmlToolValues.At(root, pointer);
        if (schema is { } sub && XmlToolValues.IsRawString(sub))
        {
            if (XmlToolValues.StringValues(sub) is { } values)
                return "( " + string.Join(" | ", values.Select(Lit)) + " )";
            int? min = Bound(sub, "minLength"), max = Bound(sub, "maxLength");
            if (sub.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String && min is null && max is null)
            {
                try
                {
                    rules.AddRange(JsonSchemaCompiler.PrimitiveRules(f.GetString()!));
                    return f.GetString()!;
                }
                catch (ArgumentException)
                {
                    // an unknown format: any text
                }
            }
            if (min is not null || max is not null)
            {
                rules.Add("xml-char ::= [^<]");
                int lo = min ?? 0;
                string repeat = max is { } hi ? (hi <= lo ? $"{{{lo}}}" : $"{{{lo},{hi}}}") : $"{{{lo},}}";
                return "xml-char" + repeat;
            }
            rules.Add(XmlText);
            return "xml-text";
        }
        if (TryCompile(root, pointer, prefix, options) is { } gbnf)
        {
            rules.AddRange(Lines(gbnf));
            return prefix + "root";
        }
        rules.AddRange(Lines(JsonSchemaCompiler.JsonObjectGbnf).Where(l => !l.StartsWith("root ", StringComparison.Ordinal)));
        return "value";
    }

    private static int? Bound(JsonElement schema, string key) =>
        schema.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0 ? n : null;

    private static string? TryCompile(JsonElement root, string pointer, string prefix, JsonSchemaGrammarOptions options)
    {
        try
        {
            string gbnf = new JsonSchemaCompiler(root, options with { RulePrefix = prefix }).Compile(pointer);
            Grammar.Parse(gbnf, prefix + "root");
            return gbnf;
        }
        catch (Exception ex) when (ex is JsonSchemaException or GrammarException)
        {
            return null;
        }
    }

    private static IEnumerable<string> Lines(string gbnf) => gbnf.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string Lit(string text) => JsonSchemaCompiler.GbnfLiteral(text);
}
