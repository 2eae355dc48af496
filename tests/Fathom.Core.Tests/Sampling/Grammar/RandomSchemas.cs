using System.Text.Json.Nodes;

namespace Fathom.Tests.Sampling.Grammar;

/// <summary>Seeded random JSON Schemas over the features the compiler supports (objects, arrays, enums, refs, formats…).</summary>
internal sealed class RandomSchemas(int seed)
{
    private static readonly string[] Names = ["a", "ab", "abc", "id", "name", "value", "x-y", "été", "日本", "key with space", "q\"uote", "back\\slash", "n", "nm"];
    private static readonly string[] Formats = ["date", "time", "date-time", "uuid", "email", "ipv4", "uri"];
    private readonly Random _rng = new(seed);
    private JsonObject? _defs;
    private int _defCount;

    public JsonObject Next()
    {
        _defs = null;
        _defCount = 0;
        var root = Schema(0);
        if (_defs is not null)
        {
            var wrapper = new JsonObject { ["$defs"] = _defs };
            foreach (var (k, v) in root.ToList())
            {
                root.Remove(k);
                wrapper[k] = v;
            }
            return wrapper;
        }
        return root;
    }

    private bool Chance(double p) => _rng.NextDouble() < p;

    private T Pick<T>(IReadOnlyList<T> items) => items[_rng.Next(items.Count)];

    private JsonObject Schema(int depth)
    {
        int kind = _rng.Next(depth >= 3 ? 8 : 13);
        return kind switch
        {
            0 => String(),
            1 => Integer(),
            2 => Number(),
            3 => new JsonObject { ["type"] = "boolean" },
            4 => new JsonObject { ["type"] = "null" },
            5 => Enum(),
            6 => new JsonObject { ["const"] = Value(0) },
            7 => new JsonObject { ["type"] = new JsonArray("string", "null") },
            8 => Object(depth),
            9 => Object(depth),
            10 => Array(depth),
            11 => AnyOf(depth),
            _ => Ref(depth),
        };
    }

    private JsonObject String()
    {
        var s = new JsonObject { ["type"] = "string" };
        switch (_rng.Next(4))
        {
            case 0:
                s["format"] = Pick(Formats);
                break;
            case 1:
                int min = _rng.Next(0, 4);
                s["minLength"] = min;
                if (Chance(0.7))
                    s["maxLength"] = min + _rng.Next(0, 6);
                break;
            case 2:
                s["maxLength"] = _rng.Next(0, 5);
                break;
        }
        return s;
    }

    private JsonObject Integer()
    {
        var s = new JsonObject { ["type"] = "integer" };
        long a = _rng.Next(-3, 3) * (long)Math.Pow(10, _rng.Next(0, 5)) + _rng.Next(-9, 10);
        long b = a + _rng.Next(0, 3) * (long)Math.Pow(10, _rng.Next(0, 6)) + _rng.Next(0, 12);
        switch (_rng.Next(6))
        {
            case 0: s["minimum"] = a; break;
            case 1: s["maximum"] = b; break;
            case 2: s["minimum"] = a; s["maximum"] = b; break;
            case 3: s["exclusiveMinimum"] = a; s["exclusiveMaximum"] = b + 2; break;
            case 4: s["minimum"] = a + 0.5; s["maximum"] = b + 1.5; break;
        }
        return s;
    }

    private JsonObject Number()
    {
        var s = new JsonObject { ["type"] = "number" };
        long a = _rng.Next(-50, 50);
        switch (_rng.Next(4))
        {
            case 0: s["minimum"] = a; break;
            case 1: s["maximum"] = a; break;
            case 2: s["minimum"] = a; s["maximum"] = a + _rng.Next(0, 30); break;
        }
        return s;
    }

    private JsonObject Enum()
    {
        var values = new JsonArray();
        var seen = new HashSet<string>();
        int n = _rng.Next(1, 5);
        for (int i = 0; i < n; i++)
        {
            var v = Value(0);
            if (seen.Add(v?.ToJsonString() ?? "null"))
                values.Add(v);
        }
        return new JsonObject { ["enum"] = values };
    }

    private JsonNode? Value(int depth) => _rng.Next(depth > 1 ? 5 : 7) switch
    {
        0 => JsonValue.Create(Pick(Names)),
        1 => JsonValue.Create(_rng.Next(-1000, 1000)),
        2 => JsonValue.Create(Math.Round(_rng.NextDouble() * 100, 2)),
        3 => JsonValue.Create(Chance(0.5)),
        4 => null,
        5 => new JsonArray(Value(depth + 1), Value(depth + 1)),
        _ => new JsonObject { [Pick(Names)] = Value(depth + 1) },
    };

    private JsonObject Object(int depth)
    {
        var props = new JsonObject();
        var names = Names.OrderBy(_ => _rng.Next()).Take(_rng.Next(0, 5)).ToList();
        foreach (string name in names)
            props[name] = Schema(depth + 1);
        var s = new JsonObject { ["type"] = "object" };
        if (names.Count > 0 || Chance(0.5))
            s["properties"] = props;
        var required = names.Where(_ => Chance(0.5)).Select(n => (JsonNode?)JsonValue.Create(n)).ToArray();
        if (required.Length > 0)
            s["required"] = new JsonArray(required);
        switch (_rng.Next(4))
        {
            case 0: s["additionalProperties"] = false; break;
            case 1: s["additionalProperties"] = true; break;
            case 2: s["additionalProperties"] = new JsonObject { ["type"] = "integer" }; break;
        }
        return s;
    }

    private JsonObject Array(int depth)
    {
        var s = new JsonObject { ["type"] = "array" };
        if (Chance(0.3))
        {
            var prefix = new JsonArray();
            int n = _rng.Next(1, 3);
            for (int i = 0; i < n; i++)
                prefix.Add(Schema(depth + 1));
            s["prefixItems"] = prefix;
            if (Chance(0.4))
                s["items"] = false;
        }
        if (!s.ContainsKey("items") && Chance(0.8))
            s["items"] = Schema(depth + 1);
        int min = _rng.Next(0, 3);
        if (Chance(0.5))
            s["minItems"] = min;
        if (Chance(0.5))
            s["maxItems"] = min + _rng.Next(0, 3);
        if (s["items"] is JsonValue items && !items.GetValue<bool>() && s["prefixItems"] is JsonArray p && s["minItems"] is JsonValue mi && mi.GetValue<int>() > p.Count)
            s["minItems"] = p.Count;
        return s;
    }

    private JsonObject AnyOf(int depth)
    {
        if (Chance(0.5))
        {
            var branches = new JsonArray();
            int n = _rng.Next(1, 4);
            for (int i = 0; i < n; i++)
                branches.Add(Schema(depth + 1));
            return new JsonObject { ["anyOf"] = branches };
        }
        // oneOf is compiled as anyOf, so its branches here are of distinct types
        var types = new[] { "string", "integer", "boolean", "null", "array", "object" }.OrderBy(_ => _rng.Next()).Take(_rng.Next(1, 4));
        var one = new JsonArray();
        foreach (string t in types)
        {
            one.Add(t switch
            {
                "string" => String(),
                "integer" => Integer(),
                "array" => new JsonObject { ["type"] = "array", ["items"] = Schema(depth + 1), ["maxItems"] = 3 },
                "object" => Object(depth + 1),
                _ => new JsonObject { ["type"] = t },
            });
        }
        return new JsonObject { ["oneOf"] = one };
    }

    private JsonObject Ref(int depth)
    {
        _defs ??= [];
        if (_defs.Count > 0 && Chance(0.5))
            return new JsonObject { ["$ref"] = "#/$defs/" + Pick(_defs.Select(kv => kv.Key).ToList()) };
        string name = (Chance(0.5) ? "node" : "tree") + _defCount++;
        if (name.StartsWith("tree", StringComparison.Ordinal))
        {
            // a recursive definition: a node with an optional list of children of its own kind
            _defs[name] = new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["v"] = Schema(depth + 1),
                    ["kids"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = "#/$defs/" + name }, ["maxItems"] = 2 },
                },
                ["required"] = new JsonArray("v"),
                ["additionalProperties"] = false,
            };
        }
        else
        {
            // filled in after its body, so the body cannot refer to it without structure in between
            var body = Schema(depth + 1);
            _defs[name] = body;
        }
        return new JsonObject { ["$ref"] = "#/$defs/" + name };
    }
}
