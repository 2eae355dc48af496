using System.Text.Json;
using Fathom.Sampling;
using Fathom.Tools;

namespace Fathom.Server;

/// <summary>
/// Reads the tool parts of a request in either API (definitions, tool_choice) and checks each tool's JSON Schema,
/// answering a 400 that names the place (e.g. <c>tools.1.input_schema.properties.city.type</c>).
/// </summary>
internal static class ToolRequests
{
    private const int MaxSchemaDepth = 64;

    private static readonly HashSet<string> SchemaTypes = new(StringComparer.Ordinal) { "object", "array", "string", "number", "integer", "boolean", "null" };

    /// <summary>Anthropic <c>tools</c>: <c>{name, description?, input_schema, cache_control?, strict?, type?: "custom"}</c>.</summary>
    public static List<ToolDefinition> Anthropic(JsonFields f, ref int breakpoints)
    {
        var result = new List<ToolDefinition>();
        if (f.Array("tools") is not { } tools)
            return result;
        int i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var t = f.Child(tool, $"tools.{i}");
            string? type = t.String("type");
            if (type is not (null or "custom"))
                throw t.Error("type", $"server tool '{type}' is not supported by this server");
            string name = t.String("name", required: true)!;
            CheckName(t, name, 128);
            string? description = t.String("description");
            var schema = t.Object("input_schema", required: true)!.Value;
            if (schema.String("type", required: true) != "object")
                throw schema.Error("type", "Input should be 'object'");
            CheckSchema(schema.Element, t.Path("input_schema"), anthropic: true, 0);
            t.Bool("strict");
            if (t.Has("cache_control"))
                breakpoints++;
            if (result.Any(r => r.Name == name))
                throw t.Error("name", $"tool names must be unique; '{name}' is declared twice");
            result.Add(new ToolDefinition(name, description, schema.Element.Clone()));
            i++;
        }
        return result;
    }

    /// <summary>Anthropic <c>tool_choice</c>: auto / any / tool {name} / none, with <c>disable_parallel_tool_use</c>.</summary>
    public static ToolChoice AnthropicChoice(JsonFields f, IReadOnlyList<ToolDefinition> tools)
    {
        if (f.Object("tool_choice") is not { } c)
            return ToolChoice.Default;
        string type = c.String("type", required: true)!;
        bool parallel = !(c.Bool("disable_parallel_tool_use") ?? false);
        var mode = type switch
        {
            "auto" => ToolChoiceMode.Auto,
            "any" => ToolChoiceMode.Any,
            "tool" => ToolChoiceMode.Tool,
            "none" => ToolChoiceMode.None,
            _ => throw c.Error("type", "Input should be 'auto', 'any', 'tool' or 'none'"),
        };
        string? name = null;
        if (mode == ToolChoiceMode.Tool)
        {
            name = c.String("name", required: true)!;
            if (!tools.Any(t => t.Name == name))
                throw c.Error("name", $"tool '{name}' is not declared in tools");
        }
        if (mode is ToolChoiceMode.Any or ToolChoiceMode.Tool && tools.Count == 0)
            throw c.Error("type", "tool_choice may only force a tool call when tools are provided");
        return new ToolChoice(mode, name, parallel) { Arguments = ArgumentsGrammar(tools, name) };
    }

    /// <summary>OpenAI <c>tools</c>: <c>[{type: "function", function: {name, description?, parameters?, strict?}}]</c>.</summary>
    public static List<ToolDefinition> OpenAI(JsonFields f)
    {
        var result = new List<ToolDefinition>();
        if (f.Array("tools") is not { } tools)
            return result;
        int i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var t = f.Child(tool, JsonFields.Index("tools", i, false));
            string type = t.String("type", required: true)!;
            if (type != "function")
                throw t.Error("type", $"'{type}' tools are not supported; use 'function'");
            var fn = t.Object("function", required: true)!.Value;
            string name = fn.String("name", required: true)!;
            CheckName(fn, name, 64);
            string? description = fn.String("description");
            JsonElement? parameters = null;
            if (fn.Object("parameters") is { } p)
            {
                if (p.String("type") is { } pt && pt != "object")
                    throw p.Error("type", "function parameters must be a JSON Schema of type 'object'");
                CheckSchema(p.Element, fn.Path("parameters"), anthropic: false, 0);
                parameters = p.Element.Clone();
            }
            fn.Bool("strict");
            if (result.Any(r => r.Name == name))
                throw fn.Error("name", $"tool names must be unique; '{name}' is declared twice");
            result.Add(new ToolDefinition(name, description, parameters));
            i++;
        }
        return result;
    }

    /// <summary>OpenAI <c>tool_choice</c> ("none" / "auto" / "required" / {type: "function", function: {name}}) and <c>parallel_tool_calls</c>.</summary>
    public static ToolChoice OpenAIChoice(JsonFields f, IReadOnlyList<ToolDefinition> tools)
    {
        bool parallel = f.Bool("parallel_tool_calls") ?? true;
        var choice = f.Get("tool_choice");
        if (choice is null)
            return new ToolChoice(ToolChoiceMode.Auto, null, parallel);
        ToolChoice result;
        if (choice.Value.ValueKind == JsonValueKind.String)
        {
            result = choice.Value.GetString() switch
            {
                "auto" => new ToolChoice(ToolChoiceMode.Auto, null, parallel),
                "none" => new ToolChoice(ToolChoiceMode.None, null, parallel),
                "required" => new ToolChoice(ToolChoiceMode.Any, null, parallel),
                var s => throw f.Error("tool_choice", $"'{s}' is not one of 'none', 'auto', 'required'"),
            };
        }
        else
        {
            var c = f.Object("tool_choice")!.Value;
            if (c.String("type", required: true) != "function")
                throw c.Error("type", "Input should be 'function'");
            var fn = c.Object("function", required: true)!.Value;
            string name = fn.String("name", required: true)!;
            if (!tools.Any(t => t.Name == name))
                throw fn.Error("name", $"tool '{name}' is not declared in tools");
            result = new ToolChoice(ToolChoiceMode.Tool, name, parallel) { Arguments = ArgumentsGrammar(tools, name) };
        }
        if (result.Mode == ToolChoiceMode.Any && tools.Count == 0)
            throw f.Error("tool_choice", "'required' needs at least one tool in tools");
        return result;
    }

    /// <summary>
    /// The grammar a forced tool's arguments must follow. A schema the compiler cannot express (e.g. <c>pattern</c>)
    /// leaves the arguments unconstrained rather than refusing a request the real APIs accept.
    /// </summary>
    private static Grammar? ArgumentsGrammar(IReadOnlyList<ToolDefinition> tools, string? name)
    {
        if (name is null || tools.FirstOrDefault(t => t.Name == name)?.Parameters is not { } schema)
            return name is null ? null : JsonSchemaGrammar.JsonObject;
        try
        {
            return JsonSchemaGrammar.Compile(schema, new JsonSchemaGrammarOptions { AllowAdditionalPropertiesByDefault = false });
        }
        catch (Exception ex) when (ex is JsonSchemaException or GrammarException)
        {
            return null;
        }
    }

    /// <summary>
    /// A response schema (OpenAI response_format json_schema, Anthropic output_config.format) as a grammar; a schema
    /// it cannot express is a 400 naming the place and the feature.
    /// </summary>
    public static Grammar ResponseGrammar(JsonElement schema, string path, bool strict, bool anthropic)
    {
        try
        {
            return JsonSchemaGrammar.Compile(schema, new JsonSchemaGrammarOptions { AllowAdditionalPropertiesByDefault = !strict });
        }
        catch (JsonSchemaException ex)
        {
            string place = path + (ex.Pointer.Length == 0 ? "" : ex.Pointer.Replace('/', '.'));
            string what = ex.UnsupportedFeature is { } feature ? $"'{feature}' is not supported for constrained decoding" : ex.Reason;
            throw JsonFields.Fail(place, what, anthropic);
        }
        catch (GrammarException ex)
        {
            throw JsonFields.Fail(path, "the schema cannot be compiled to a grammar: " + ex.Message, anthropic);
        }
    }

    private static void CheckName(JsonFields f, string name, int max)
    {
        if (name.Length == 0 || name.Length > max || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            throw f.Error("name", $"String should match pattern '^[a-zA-Z0-9_-]{{1,{max}}}$'");
    }

    /// <summary>Structural checks of a JSON Schema, so a bad schema fails the request at its place instead of confusing the model.</summary>
    private static void CheckSchema(JsonElement schema, string path, bool anthropic, int depth)
    {
        if (depth > MaxSchemaDepth)
            throw JsonFields.Fail(path, $"schema nested deeper than {MaxSchemaDepth} levels", anthropic);
        if (schema.ValueKind is JsonValueKind.True or JsonValueKind.False)
            return;
        if (schema.ValueKind != JsonValueKind.Object)
            throw JsonFields.Fail(path, "a JSON Schema must be an object or a boolean", anthropic);
        string Sub(string name) => path + "." + name;
        if (schema.TryGetProperty("type", out var type))
        {
            bool ok = type.ValueKind switch
            {
                JsonValueKind.String => SchemaTypes.Contains(type.GetString()!),
                JsonValueKind.Array => type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String && SchemaTypes.Contains(t.GetString()!)),
                _ => false,
            };
            if (!ok)
                throw JsonFields.Fail(Sub("type"), "must be one of 'object', 'array', 'string', 'number', 'integer', 'boolean', 'null' (or a list of them)", anthropic);
        }
        foreach (string key in (ReadOnlySpan<string>)["properties", "$defs", "definitions", "patternProperties"])
        {
            if (!schema.TryGetProperty(key, out var props))
                continue;
            if (props.ValueKind != JsonValueKind.Object)
                throw JsonFields.Fail(Sub(key), "must be an object mapping names to schemas", anthropic);
            foreach (var p in props.EnumerateObject())
                CheckSchema(p.Value, Sub(key) + "." + p.Name, anthropic, depth + 1);
        }
        if (schema.TryGetProperty("required", out var required)
            && (required.ValueKind != JsonValueKind.Array || required.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.String)))
            throw JsonFields.Fail(Sub("required"), "must be a list of property names", anthropic);
        if (schema.TryGetProperty("enum", out var en) && en.ValueKind != JsonValueKind.Array)
            throw JsonFields.Fail(Sub("enum"), "must be a list", anthropic);
        foreach (string key in (ReadOnlySpan<string>)["items", "additionalProperties", "not", "contains", "propertyNames", "additionalItems"])
        {
            if (schema.TryGetProperty(key, out var sub))
            {
                if (key == "items" && sub.ValueKind == JsonValueKind.Array)
                {
                    int k = 0;
                    foreach (var item in sub.EnumerateArray())
                        CheckSchema(item, $"{Sub(key)}.{k++}", anthropic, depth + 1);
                }
                else
                    CheckSchema(sub, Sub(key), anthropic, depth + 1);
            }
        }
        foreach (string key in (ReadOnlySpan<string>)["anyOf", "oneOf", "allOf", "prefixItems"])
        {
            if (!schema.TryGetProperty(key, out var list))
                continue;
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
                throw JsonFields.Fail(Sub(key), "must be a non-empty list of schemas", anthropic);
            int k = 0;
            foreach (var item in list.EnumerateArray())
                CheckSchema(item, $"{Sub(key)}.{k++}", anthropic, depth + 1);
        }
        if (schema.TryGetProperty("$ref", out var r) && r.ValueKind != JsonValueKind.String)
            throw JsonFields.Fail(Sub("$ref"), "must be a string", anthropic);
        foreach (string key in (ReadOnlySpan<string>)["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"])
        {
            if (schema.TryGetProperty(key, out var n) && (n.ValueKind != JsonValueKind.Number || !n.TryGetInt64(out long v) || v < 0))
                throw JsonFields.Fail(Sub(key), "must be a non-negative integer", anthropic);
        }
    }
}
