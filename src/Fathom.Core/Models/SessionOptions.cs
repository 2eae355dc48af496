using Fathom.Attention;
using Fathom.KvCache;

namespace Fathom.Models;

/// <summary>Which attention implementation a session runs.</summary>
public enum AttentionPath
{
    /// <summary>
    /// Exact while the cache is dense f16 without hooks, tiled otherwise; and tiled for steps starting at position
    /// <see cref="ModelSession.AutoTiledDepth"/> or later, where the exact path's per-position rounding dominates.
    /// </summary>
    Auto,

    /// <summary>llama.cpp's rounding (Q and probabilities to f16, full score row); f16 dense caches only.</summary>
    Exact,

    /// <summary>Online-softmax tiles in float32; any cache type, evicted caches, hooks, flash-decoding.</summary>
    Tiled,
}

/// <summary>How a <see cref="ModelSession"/> computes and caches.</summary>
public sealed record SessionOptions
{
    /// <summary>Positions the KV cache holds (0: the trained context, at most 4096).</summary>
    public int ContextLength { get; init; }

    public int Threads { get; init; } = 1;

    /// <summary>Tokens per forward chunk: a longer prompt runs in chunks of this many, so scratch does not grow with it.</summary>
    public int UBatch { get; init; } = 512;

    public AttentionPath Attention { get; init; } = AttentionPath.Auto;
    public KvType KeyType { get; init; } = KvType.F16;
    public KvType ValueType { get; init; } = KvType.F16;
    public int PageSize { get; init; } = 64;

    /// <summary>KV bytes kept in RAM; pages past it spill to disk (0: no limit).</summary>
    public long KvRamBytes { get; init; }

    public string? SpillDirectory { get; init; }
    public bool TrackKeyBounds { get; init; }

    /// <summary>RoPE overrides (context extension); null uses the GGUF's settings.</summary>
    public RopeOverrides? Rope { get; init; }

    /// <summary>A KV policy's view into the tiled attention (forces the tiled path).</summary>
    public IAttentionHooks? Hooks { get; init; }

    /// <summary>
    /// The KV policy, <c>NAME[:key=value…]</c> as <see cref="KvPolicies.KvPolicy.Create"/> takes it (null or
    /// <c>full</c>: every position kept and read). Any other policy runs on the tiled path; each session gets
    /// its own instance. Quest sets the cache's page size to its page and tracks the pages' key bounds.
    /// </summary>
    public string? KvPolicy { get; init; }

    /// <summary>Tokens the policy keeps or reads per layer and KV head (0: the context length).</summary>
    public int KvBudget { get; init; }

    /// <summary>
    /// Positions the sequence may reach (0: <see cref="ContextLength"/>). Past the context length only a
    /// policy that evicts can go on: the context length bounds the positions held, this the positions run.
    /// </summary>
    public int MaxPositions { get; init; }
}

/// <summary>Context extension: RoPE settings that override the GGUF's (null keeps the file's value).</summary>
public sealed record RopeOverrides
{
    public RopeScalingType? Scaling { get; init; }
    public float? FreqBase { get; init; }

    /// <summary>Scaling factor (context multiple); the frequency scale becomes 1/factor for linear and yarn.</summary>
    public float? Factor { get; init; }

    public int? OriginalContextLength { get; init; }
    public float? YarnExtFactor { get; init; }
    public float? YarnAttnFactor { get; init; }
    public float? YarnBetaFast { get; init; }
    public float? YarnBetaSlow { get; init; }

    /// <summary>The configuration with these overrides applied.</summary>
    public ModelConfig Apply(ModelConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (FreqBase is <= 0f || Factor is <= 0f || YarnAttnFactor is <= 0f || OriginalContextLength is <= 0)
            throw new ArgumentException("RoPE overrides must be positive");
        var scaling = Scaling ?? c.RopeScaling;
        float freqScale = scaling == RopeScalingType.None ? 1f : Factor is { } f ? 1f / f : c.RopeFreqScale;
        return c with
        {
            RopeScaling = scaling,
            RopeFreqBase = FreqBase ?? c.RopeFreqBase,
            RopeFreqScale = freqScale,
            RopeOriginalContextLength = OriginalContextLength ?? c.RopeOriginalContextLength,
            YarnExtFactor = YarnExtFactor ?? (scaling == RopeScalingType.Yarn ? (c.RopeScaling == RopeScalingType.Yarn ? c.YarnExtFactor : 1f) : 0f),
            YarnAttnFactor = YarnAttnFactor ?? c.YarnAttnFactor,
            YarnBetaFast = YarnBetaFast ?? c.YarnBetaFast,
            YarnBetaSlow = YarnBetaSlow ?? c.YarnBetaSlow,
        };
    }
}
