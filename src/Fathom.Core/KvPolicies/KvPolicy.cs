using System.Globalization;

namespace Fathom.KvPolicies;

/// <summary>Creates policies by name: <c>NAME[:key=value[:key=value…]]</c>, e.g. <c>snapkv:window=16:pyramid=1</c>.</summary>
public static class KvPolicy
{
    /// <summary>The registered names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["full", "window", "h2o", "snapkv", "pyramidkv", "quest", "strided"];

    /// <summary>
    /// The policy <paramref name="spec"/> with a budget of <paramref name="budget"/> tokens per layer and KV
    /// head. Unknown names or parameters, and malformed values, throw <see cref="ArgumentException"/>.
    /// </summary>
    public static IKvPolicy Create(string spec, int budget)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        if (budget < 1)
            throw new ArgumentOutOfRangeException(nameof(budget), $"a KV budget of {budget} tokens must be at least 1");
        string[] parts = spec.Trim().Split(':');
        string name = parts[0].ToLowerInvariant();
        var args = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (string part in parts.AsSpan(1))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? part : part[..eq];
            string value = eq < 0 ? "1" : part[(eq + 1)..];
            if (key == "pool")
                value = value.Equals("max", StringComparison.OrdinalIgnoreCase) ? "1" : value.Equals("avg", StringComparison.OrdinalIgnoreCase) ? "0" : value;
            if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 0)
                throw new ArgumentException($"KV policy '{spec}': parameter '{part}' needs a non-negative integer value", nameof(spec));
            args[key] = v;
        }

        IKvPolicy policy = name switch
        {
            "full" => new FullPolicy(),
            "window" => new WindowPolicy(budget, Take(args, "sinks", 4)),
            "h2o" => new H2OPolicy(budget, Take(args, "recent", -1)),
            "snapkv" or "pyramidkv" => new SnapKvPolicy(budget, Take(args, "window", 32), Take(args, "kernel", 5), Take(args, "pool", 0) != 0,
                name == "pyramidkv" || Take(args, "pyramid", 0) != 0, Take(args, "beta", 20)),
            "quest" => new QuestPolicy(budget, Take(args, "page", 16), Take(args, "dense", 2)),
            "strided" => new StridedPolicy(budget, Take(args, "sinks", 4), Take(args, "local", -1), Take(args, "stride", 0)),
            _ => throw new ArgumentException($"unknown KV policy '{parts[0]}' (expected one of {string.Join(", ", Names)})", nameof(spec)),
        };
        if (args.Count > 0)
            throw new ArgumentException($"KV policy '{name}' has no parameter '{args.Keys.First()}'", nameof(spec));
        return policy;
    }

    private static int Take(Dictionary<string, int> args, string key, int fallback) =>
        args.Remove(key, out int v) ? v : fallback;
}
