using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Fathom.Tests.Sampling.Grammar;

/// <summary>
/// An independent JSON Schema validator for the subset the grammar compiler supports (written from the spec, not
/// from the compiler): returns null when <paramref name="instance"/> is valid, else the first reason and where.
/// </summary>
internal static partial class SchemaValidator
{
    public static string? Validate(JsonElement schema, JsonElement instance) => Check(schema, instance, schema, "#", 0);

    private static string? Check(JsonElement schema, JsonElement v, JsonElement root, string at, int depth)
    {
        if (depth > 200)
            return $"{at}: too deep";
        if (schema.ValueKind == JsonValueKind.True)
            return null;
        if (schema.ValueKind == JsonValueKind.False)
            return $"{at}: schema false";
        if (schema.TryGetProperty("$ref", out var r))
            return Check(Resolve(root, r.GetString()!), v, root, at, depth + 1);
        if (schema.TryGetProperty("const", out var c) && !JsonEquals(c, v))
            return $"{at}: not the const {c.GetRawText()}";
        if (schema.TryGetProperty("enum", out var e) && !e.EnumerateArray().Any(x => JsonEquals(x, v)))
            return $"{at}: not in the enum";
        if (schema.TryGetProperty("anyOf", out var any) && !any.EnumerateArray().Any(s => Check(s, v, root, at, depth + 1) is null))
            return $"{at}: matches no anyOf branch";
        if (schema.TryGetProperty("oneOf", out var one))
        {
            int n = one.EnumerateArray().Count(s => Check(s, v, root, at, depth + 1) is null);
            if (n != 1)
                return $"{at}: matches {n} oneOf branches";
        }
        if (schema.TryGetProperty("type", out var type))
        {
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!];
            if (!types.Any(t => HasType(v, t)))
                return $"{at}: {v.ValueKind} is not {string.Join("/", types)}";
        }
        switch (v.ValueKind)
        {
            case JsonValueKind.String:
                return CheckString(schema, v.GetString()!, at);
            case JsonValueKind.Number:
                return CheckNumber(schema, v, at);
            case JsonValueKind.Array:
                return CheckArray(schema, v, root, at, depth);
            case JsonValueKind.Object:
                return CheckObject(schema, v, root, at, depth);
            default:
                return null;
        }
    }

    private static bool HasType(JsonElement v, string t) => t switch
    {
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && IsInteger(v),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => v.ValueKind == JsonValueKind.Null,
        "array" => v.ValueKind == JsonValueKind.Array,
        "object" => v.ValueKind == JsonValueKind.Object,
        _ => throw new InvalidOperationException($"unknown type {t}"),
    };

    private static bool IsInteger(JsonElement v)
    {
        double d = v.GetDouble();
        return double.IsFinite(d) && Math.Floor(d) == d;
    }

    private static string? CheckString(JsonElement schema, string s, string at)
    {
        int length = s.EnumerateRunes().Count();
        if (schema.TryGetProperty("minLength", out var min) && length < min.GetInt32())
            return $"{at}: length {length} < minLength";
        if (schema.TryGetProperty("maxLength", out var max) && length > max.GetInt32())
            return $"{at}: length {length} > maxLength";
        if (schema.TryGetProperty("format", out var f))
        {
            bool ok = f.GetString() switch
            {
                "date" => IsDate(s),
                "time" => TimeRegex().IsMatch(s),
                "date-time" => s.Length > 11 && s[10] == 'T' && IsDate(s[..10]) && TimeRegex().IsMatch(s[11..]),
                "uuid" => Guid.TryParseExact(s, "D", out _),
                "email" => EmailRegex().IsMatch(s),
                "ipv4" => s.Split('.') is { Length: 4 } parts && parts.All(p => p.Length > 0 && p.Length <= 3 && (p == "0" || p[0] != '0') && p.All(char.IsAsciiDigit) && int.Parse(p, CultureInfo.InvariantCulture) <= 255),
                "uri" => Uri.TryCreate(s, UriKind.Absolute, out _) || UriRegex().IsMatch(s),
                _ => true,
            };
            if (!ok)
                return $"{at}: '{s}' is not a {f.GetString()}";
        }
        return null;
    }

    private static bool IsDate(string s)
        => s.Length == 10 && s[4] == '-' && s[7] == '-' && s.Where((ch, i) => i is not (4 or 7)).All(char.IsAsciiDigit)
           && int.Parse(s.AsSpan(5, 2), CultureInfo.InvariantCulture) is >= 1 and <= 12 && int.Parse(s.AsSpan(8, 2), CultureInfo.InvariantCulture) is >= 1 and <= 31;

    [GeneratedRegex(@"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
    private static partial Regex TimeRegex();

    [GeneratedRegex(@"^[^@\s""]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")]
    private static partial Regex EmailRegex();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")]
    private static partial Regex UriRegex();

    private static string? CheckNumber(JsonElement schema, JsonElement v, string at)
    {
        if (!decimal.TryParse(v.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out decimal x))
        {
            foreach (string k in (string[])["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
                if (schema.TryGetProperty(k, out _))
                    return $"{at}: {v.GetRawText()} is too large to compare with {k}";
            return null;
        }
        if (schema.TryGetProperty("minimum", out var min) && x < min.GetDecimal())
            return $"{at}: {x} < minimum";
        if (schema.TryGetProperty("maximum", out var max) && x > max.GetDecimal())
            return $"{at}: {x} > maximum";
        if (schema.TryGetProperty("exclusiveMinimum", out var emin) && x <= emin.GetDecimal())
            return $"{at}: {x} <= exclusiveMinimum";
        if (schema.TryGetProperty("exclusiveMaximum", out var emax) && x >= emax.GetDecimal())
            return $"{at}: {x} >= exclusiveMaximum";
        return null;
    }

    private static string? CheckArray(JsonElement schema, JsonElement v, JsonElement root, string at, int depth)
    {
        int n = v.GetArrayLength();
        if (schema.TryGetProperty("minItems", out var min) && n < min.GetInt32())
            return $"{at}: {n} items < minItems";
        if (schema.TryGetProperty("maxItems", out var max) && n > max.GetInt32())
            return $"{at}: {n} items > maxItems";
        int prefix = 0;
        if (schema.TryGetProperty("prefixItems", out var pi))
        {
            prefix = pi.GetArrayLength();
            for (int i = 0; i < Math.Min(prefix, n); i++)
                if (Check(pi[i], v[i], root, $"{at}/{i}", depth + 1) is { } err)
                    return err;
        }
        if (schema.TryGetProperty("items", out var items))
            for (int i = prefix; i < n; i++)
                if (Check(items, v[i], root, $"{at}/{i}", depth + 1) is { } err)
                    return err;
        return null;
    }

    private static string? CheckObject(JsonElement schema, JsonElement v, JsonElement root, string at, int depth)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
            if (!seen.Add(p.Name))
                return $"{at}: duplicate key '{p.Name}'";
        if (schema.TryGetProperty("required", out var req))
            foreach (var name in req.EnumerateArray())
                if (!seen.Contains(name.GetString()!))
                    return $"{at}: required '{name.GetString()}' is missing";
        bool hasProps = schema.TryGetProperty("properties", out var props);
        schema.TryGetProperty("additionalProperties", out var extra);
        foreach (var p in v.EnumerateObject())
        {
            if (hasProps && props.TryGetProperty(p.Name, out var ps))
            {
                if (Check(ps, p.Value, root, $"{at}/{p.Name}", depth + 1) is { } err)
                    return err;
            }
            else if (extra.ValueKind == JsonValueKind.False)
            {
                return $"{at}: additional property '{p.Name}'";
            }
            else if (extra.ValueKind == JsonValueKind.Object && Check(extra, p.Value, root, $"{at}/{p.Name}", depth + 1) is { } err)
            {
                return err;
            }
        }
        return null;
    }

    private static JsonElement Resolve(JsonElement root, string reference)
    {
        var node = root;
        foreach (string part in reference.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
            node = node.GetProperty(part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal));
        return node;
    }

    public static bool JsonEquals(JsonElement a, JsonElement b)
    {
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number)
        {
            if (decimal.TryParse(a.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out decimal x)
                && decimal.TryParse(b.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out decimal y))
                return x == y;
            return a.GetDouble() == b.GetDouble();
        }
        if (a.ValueKind != b.ValueKind)
            return false;
        return a.ValueKind switch
        {
            JsonValueKind.String => a.GetString() == b.GetString(),
            JsonValueKind.Array => a.GetArrayLength() == b.GetArrayLength() && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => JsonEquals(p.First, p.Second)),
            JsonValueKind.Object => a.EnumerateObject().Count() == b.EnumerateObject().Count()
                && a.EnumerateObject().All(p => b.TryGetProperty(p.Name, out var q) && JsonEquals(p.Value, q)),
            _ => true,
        };
    }
}
