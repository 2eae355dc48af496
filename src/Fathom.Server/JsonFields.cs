using System.Text.Json;

namespace Fathom.Server;

/// <summary>
/// Typed reads from a request object that fail with the API's 400 naming the field, so every malformed
/// body gets a precise message instead of a serializer exception.
/// </summary>
internal readonly struct JsonFields(JsonElement obj, string path, bool anthropic)
{
    public JsonElement Element => obj;

    public string Path(string name) => path.Length == 0 ? name : anthropic ? $"{path}.{name}" : $"{path}.{name}";

    public static string Index(string path, int i, bool anthropic) => anthropic ? $"{path}.{i}" : $"{path}[{i}]";

    public ApiException Error(string name, string problem) => Fail(Path(name), problem, anthropic);

    public static ApiException Fail(string field, string problem, bool anthropic) =>
        ApiException.Invalid(anthropic ? $"{field}: {problem}" : $"Invalid value for '{field}': {problem}", field, "invalid_value");

    public bool Has(string name) => obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string name) => obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public JsonElement Required(string name) =>
        Get(name) ?? throw (anthropic ? Error(name, "Field required") : ApiException.Invalid($"Missing required parameter: '{Path(name)}'.", Path(name), "missing_required_parameter"));

    public string? String(string name, bool required = false)
    {
        var v = required ? Required(name) : Get(name);
        if (v is null)
            return null;
        return v.Value.ValueKind == JsonValueKind.String ? v.Value.GetString()! : throw Error(name, "Input should be a valid string");
    }

    public bool? Bool(string name)
    {
        var v = Get(name);
        if (v is null)
            return null;
        return v.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(name, "Input should be a valid boolean"),
        };
    }

    public long? Integer(string name, long min, long max, bool required = false)
    {
        var v = required ? Required(name) : Get(name);
        if (v is null)
            return null;
        if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetInt64(out long x))
            throw Error(name, "Input should be a valid integer");
        if (x < min)
            throw Error(name, $"Input should be greater than or equal to {min}");
        if (x > max)
            throw Error(name, $"Input should be less than or equal to {max}");
        return x;
    }

    public double? Number(string name, double min, double max)
    {
        var v = Get(name);
        if (v is null)
            return null;
        if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetDouble(out double x) || !double.IsFinite(x))
            throw Error(name, "Input should be a valid number");
        if (x < min)
            throw Error(name, $"Input should be greater than or equal to {min}");
        if (x > max)
            throw Error(name, $"Input should be less than or equal to {max}");
        return x;
    }

    public JsonElement? Array(string name, bool required = false)
    {
        var v = required ? Required(name) : Get(name);
        if (v is null)
            return null;
        return v.Value.ValueKind == JsonValueKind.Array ? v : throw Error(name, "Input should be a valid list");
    }

    public JsonFields? Object(string name, bool required = false)
    {
        var v = required ? Required(name) : Get(name);
        if (v is null)
            return null;
        return v.Value.ValueKind == JsonValueKind.Object ? new JsonFields(v.Value, Path(name), anthropic) : throw Error(name, "Input should be a valid dictionary");
    }

    public JsonFields Child(JsonElement element, string childPath) =>
        element.ValueKind == JsonValueKind.Object ? new JsonFields(element, childPath, anthropic) : throw Fail(childPath, "Input should be a valid dictionary", anthropic);
}
