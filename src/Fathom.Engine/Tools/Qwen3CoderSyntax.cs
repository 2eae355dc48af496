using System.Text.Json;

namespace Fathom.Tools;

/// <summary>
/// Qwen3-Coder: <c>&lt;tool_call&gt;\n&lt;function=NAME&gt;\n&lt;parameter=P&gt;\nVALUE\n&lt;/parameter&gt;\n…&lt;/function&gt;\n&lt;/tool_call&gt;</c>.
/// The header ends after <c>&lt;function=NAME&gt;</c>; the parameters are read by the parser (not JSON, see
/// <see cref="XmlToolValues"/>), and the trailer is <c>&lt;/tool_call&gt;</c>.
/// </summary>
internal sealed class Qwen3CoderSyntax : ToolSyntax
{
    public static readonly Qwen3CoderSyntax Instance = new();

    public override IReadOnlyList<string> Openers { get; } = ["<tool_call>"];

    public override bool XmlArguments => true;

    public override Match Header(ref SyntaxCursor c, int form, out CallHeader header)
    {
        header = default;
        Match m;
        if ((m = c.Lit("<tool_call>")) != Match.Ok)
            return m;
        c.Ws();
        if ((m = c.Lit("<function=")) != Match.Ok)
            return m;
        if ((m = c.Until(out string name, 256, ">", "\n")) != Match.Ok)
            return m;
        if ((m = c.Lit(">")) != Match.Ok)
            return m;
        name = name.Trim();
        if (name.Length == 0)
            return Match.Fail;
        header = new CallHeader(name, false, 0);
        return Match.Ok;
    }

    public override Match Trailer(ref SyntaxCursor c, int form, out bool more)
    {
        more = false;
        c.Ws();
        if (c.AtEnd && c.Final)
            return Match.Ok;
        return c.Lit("</tool_call>");
    }

    public override string ForcedPrefix(string? name) =>
        name is null ? "<tool_call>\n<function=" : $"<tool_call>\n<function={name}>\n";
}

/// <summary>Values of XML-form tool parameters: which are raw strings, and how text converts to JSON by the declared schema.</summary>
internal static class XmlToolValues
{
    /// <summary>An object schema whose parameters can be listed: type object (or properties) without combinators or a reference at the root.</summary>
    public static bool IsPlainObject(JsonElement schema) =>
        schema.ValueKind == JsonValueKind.Object
        && !schema.TryGetProperty("$ref", out _) && !schema.TryGetProperty("anyOf", out _) && !schema.TryGetProperty("oneOf", out _)
        && (schema.TryGetProperty("properties", out _) || (schema.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "object"));

    /// <summary>The subschema at a JSON pointer, or null.</summary>
    public static JsonElement? At(JsonElement root, string pointer)
    {
        var node = root;
        foreach (string raw in pointer.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string token = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(token, out node))
                return null;
        }
        return node;
    }

    /// <summary>The schema of parameter <paramref name="name"/> in a tool's schema, or null.</summary>
    public static JsonElement? Property(JsonElement? toolSchema, string name) =>
        toolSchema is { ValueKind: JsonValueKind.Object } s && s.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object
        && props.TryGetProperty(name, out var p) ? p : null;

    /// <summary>A value written as raw text: type string, or an enum / const of strings only.</summary>
    public static bool IsRawString(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object || schema.TryGetProperty("$ref", out _) || schema.TryGetProperty("anyOf", out _) || schema.TryGetProperty("oneOf", out _))
            return false;
        bool typed = schema.TryGetProperty("type", out var t);
        if (typed && !(t.ValueKind == JsonValueKind.String && t.GetString() == "string"))
            return false;
        if (schema.TryGetProperty("enum", out _) || schema.TryGetProperty("const", out _))
            return StringValues(schema) is not null;
        return typed;
    }

    /// <summary>An enum's (or const's) values when all are strings; null otherwise or when there is neither.</summary>
    public static List<string>? StringValues(JsonElement schema)
    {
        if (schema.TryGetProperty("const", out var c))
            return c.ValueKind == JsonValueKind.String ? [c.GetString()!] : null;
        if (!schema.TryGetProperty("enum", out var e) || e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0)
            return null;
        var list = new List<string>();
        foreach (var v in e.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.String)
                return null;
            list.Add(v.GetString()!);
        }
        return list;
    }

    /// <summary>
    /// A parameter's text as JSON: raw strings stay strings; other values are parsed as JSON (Python's True / False /
    /// None as the templates write them are read too), falling back to the text as a string.
    /// </summary>
    public static string ToJson(JsonElement? schema, string text)
    {
        if (schema is { } s && !IsRawString(s))
        {
            string t = text.Trim();
            switch (t)
            {
                case "True": return "true";
                case "False": return "false";
                case "None": return "null";
            }
            try
            {
                using var doc = JsonDocument.Parse(t);
                return doc.RootElement.GetRawText();
            }
            catch (JsonException)
            {
                // not JSON: the text itself
            }
        }
        return JsonSerializer.Serialize(text, ToolJson.Default.String);
    }
}
