using System.CommandLine;
using System.Globalization;
using Fathom.KvCache;
using Fathom.KvPolicies;
using Fathom.Models;

namespace Fathom.Cli.Commands;

/// <summary>The KV cache, attention and RoPE options shared by run and bench.</summary>
internal sealed class KvOptions
{
    private readonly Option<string> _typeK = new("--cache-type-k", "-ctk") { Description = "Key cache type: f32, f16, q8_0, q4_0.", DefaultValueFactory = _ => "f16" };
    private readonly Option<string> _typeV = new("--cache-type-v", "-ctv") { Description = "Value cache type: f32, f16, q8_0, q4_0.", DefaultValueFactory = _ => "f16" };
    private readonly Option<int> _ubatch = new("--ubatch", "-ub") { Description = "Prompt tokens per forward chunk.", DefaultValueFactory = _ => 512 };
    private readonly Option<string> _attention = new("--attention") { Description = "auto (exact while the cache is f16, tiled for steps from position 2048), exact (llama.cpp rounding) or tiled (online softmax, flash-decoding).", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _kvRam = new("--kv-ram") { Description = "KV bytes kept in RAM (suffix K, M, G); pages past it spill to a file in the cache directory." };
    private readonly Option<int> _pageSize = new("--kv-page") { Description = "Token slots per KV page.", DefaultValueFactory = _ => 64 };
    private readonly Option<string> _policy = new("--kv-policy") { Description = $"KV policy NAME[:key=value…] ({string.Join(", ", KvPolicy.Names)}), e.g. window:sinks=4, quest:page=16.", DefaultValueFactory = _ => "full" };
    private readonly Option<string> _budget = new("--budget") { Description = "KV policy budget: tokens per layer and KV head (4096), or a fraction of the context (1/4, 0.25). Default: the context." };
    private readonly Option<string> _ropeScaling = new("--rope-scaling") { Description = "RoPE scaling: none, linear or yarn (overrides the model)." };
    private readonly Option<float?> _ropeBase = new("--rope-freq-base") { Description = "RoPE base frequency (overrides the model)." };
    private readonly Option<float?> _ropeScale = new("--rope-scale") { Description = "RoPE context scaling factor (overrides the model)." };
    private readonly Option<int?> _yarnOrig = new("--yarn-orig-ctx") { Description = "YaRN original context length." };
    private readonly Option<float?> _yarnExt = new("--yarn-ext-factor") { Description = "YaRN extrapolation mix factor." };
    private readonly Option<float?> _yarnAttn = new("--yarn-attn-factor") { Description = "YaRN attention magnitude scale." };
    private readonly Option<float?> _yarnFast = new("--yarn-beta-fast") { Description = "YaRN low correction dim." };
    private readonly Option<float?> _yarnSlow = new("--yarn-beta-slow") { Description = "YaRN high correction dim." };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _typeK, _typeV, _ubatch, _attention, _kvRam, _pageSize, _policy, _budget, _ropeScaling, _ropeBase, _ropeScale, _yarnOrig, _yarnExt, _yarnAttn, _yarnFast, _yarnSlow })
            command.Options.Add(o);
    }

    public SessionOptions Build(ParseResult parse, int contextLength, int threads)
    {
        int ub = parse.GetValue(_ubatch), page = parse.GetValue(_pageSize);
        if (ub < 1)
            throw new CliUsageException($"--ubatch {ub} must be at least 1");
        if (page < 1 || page > 1 << 16)
            throw new CliUsageException($"--kv-page {page} must be between 1 and 65536");
        var attention = parse.GetValue(_attention) switch
        {
            "auto" => AttentionPath.Auto,
            "exact" => AttentionPath.Exact,
            "tiled" => AttentionPath.Tiled,
            var a => throw new CliUsageException($"--attention '{a}' must be auto, exact or tiled"),
        };
        var k = Type(parse.GetValue(_typeK)!, "--cache-type-k");
        var v = Type(parse.GetValue(_typeV)!, "--cache-type-v");
        if (attention == AttentionPath.Exact && (k != KvType.F16 || v != KvType.F16))
            throw new CliUsageException("--attention exact needs f16 keys and values");
        RopeScalingType? scaling = parse.GetValue(_ropeScaling) switch
        {
            null => null,
            "none" => RopeScalingType.None,
            "linear" => RopeScalingType.Linear,
            "yarn" => RopeScalingType.Yarn,
            var s => throw new CliUsageException($"--rope-scaling '{s}' must be none, linear or yarn"),
        };
        var rope = new RopeOverrides
        {
            Scaling = scaling,
            FreqBase = Positive(parse.GetValue(_ropeBase), "--rope-freq-base"),
            Factor = Positive(parse.GetValue(_ropeScale), "--rope-scale"),
            OriginalContextLength = parse.GetValue(_yarnOrig) is int o ? (o > 0 ? o : throw new CliUsageException($"--yarn-orig-ctx {o} must be positive")) : null,
            YarnExtFactor = parse.GetValue(_yarnExt),
            YarnAttnFactor = Positive(parse.GetValue(_yarnAttn), "--yarn-attn-factor"),
            YarnBetaFast = parse.GetValue(_yarnFast),
            YarnBetaSlow = parse.GetValue(_yarnSlow),
        };
        string policy = parse.GetValue(_policy)!;
        int budget = parse.GetValue(_budget) is { } b ? Budget(b, contextLength) : 0;
        try
        {
            _ = KvPolicy.Create(policy, budget > 0 ? budget : contextLength);
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException($"--kv-policy: {e.Message.Split(" (Parameter", StringSplitOptions.None)[0]}");
        }
        if (attention == AttentionPath.Exact && !policy.Trim().StartsWith("full", StringComparison.OrdinalIgnoreCase))
            throw new CliUsageException("--attention exact does not combine with a --kv-policy other than full");
        return new SessionOptions
        {
            KvPolicy = policy,
            KvBudget = budget,
            ContextLength = contextLength,
            Threads = threads,
            UBatch = ub,
            Attention = attention,
            KeyType = k,
            ValueType = v,
            PageSize = page,
            KvRamBytes = parse.GetValue(_kvRam) is { } ram ? Bytes(ram, "--kv-ram") : 0,
            Rope = rope == new RopeOverrides() ? null : rope,
        };
    }

    /// <summary>The policy spec given (default <c>full</c>).</summary>
    public string Policy(ParseResult parse) => parse.GetValue(_policy)!;

    /// <summary>Tokens, or a fraction (a/b or 0.x) of <paramref name="contextLength"/>.</summary>
    internal static int Budget(string text, int contextLength)
    {
        string t = text.Trim();
        double v;
        int slash = t.IndexOf('/', StringComparison.Ordinal);
        bool ok;
        if (slash >= 0)
        {
            ok = double.TryParse(t[..slash], NumberStyles.Float, CultureInfo.InvariantCulture, out double a)
                & double.TryParse(t[(slash + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d != 0;
            v = ok ? a / d * contextLength : 0;
            ok &= v > 0 && a / d <= 1;
        }
        else if (t.Contains('.', StringComparison.Ordinal))
        {
            ok = double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) && f > 0 && f <= 1;
            v = f * contextLength;
        }
        else
        {
            ok = int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0;
            v = n;
        }
        if (!ok)
            throw new CliUsageException($"--budget '{text}' is neither a positive token count nor a fraction in (0, 1] of the context");
        return Math.Max(1, (int)Math.Round(v));
    }

    internal static KvType Type(string name, string option)
    {
        try
        {
            return KvTypes.Parse(name);
        }
        catch (ArgumentException)
        {
            throw new CliUsageException($"{option} '{name}' must be f32, f16, q8_0 or q4_0");
        }
    }

    private static float? Positive(float? value, string option) =>
        value is float f && !(f > 0f) ? throw new CliUsageException($"{option} {f} must be positive") : value;

    internal static long Bytes(string text, string option)
    {
        string t = text.Trim();
        long unit = 1;
        if (t.Length > 0 && char.ToUpperInvariant(t[^1]) is 'K' or 'M' or 'G' or 'T')
        {
            unit = char.ToUpperInvariant(t[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L << 40 };
            t = t[..^1];
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0) || v * unit > 1e18)
            throw new CliUsageException($"{option} '{text}' is not a positive byte count (e.g. 512M, 2G)");
        return (long)(v * unit);
    }
}
