using Fathom.Attention;
using Fathom.KvCache;

namespace Fathom.Models;

/// <summary>Which attention implementation a session runs.</summary>
public enum AttentionPath
{
    /// <summary>Exact while the cache is dense f16 without hooks, tiled otherwise.</summary>
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

    /// <summary>A KV policy's view into the tiled attention (forces the tiled path).</summary>
    public IAttentionHooks? Hooks { get; init; }
}
