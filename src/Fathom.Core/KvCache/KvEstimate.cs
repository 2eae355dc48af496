using Fathom.Models;

namespace Fathom.KvCache;

/// <summary>
/// Memory a session will use: KV bytes per token (2 × layers × kv heads × head size × bytes per
/// element, block scales included), KV for a context rounded up to whole pages, the mapped weights,
/// the forward scratch of one ubatch, and the runtime's own baseline.
/// </summary>
/// <remarks>
/// With a KV policy: quest keeps every position plus its page bounds (f32, and the 8-bit copy it scores), counted in
/// <see cref="PolicyBytes"/>; evicting policies hold the whole prompt until the prefill ends, so the peak is the same as
/// full attention's, and <see cref="SteadyKvBytes"/> is what stays once they have evicted to their budget.
/// </remarks>
public sealed record KvEstimate(long KeyBytesPerToken, long ValueBytesPerToken, long KvBytes, long WeightBytes, long ScratchBytes, long RuntimeBytes,
    long PolicyBytes = 0, long SteadyKvBytes = -1)
{
    /// <summary>Resident memory of the .NET runtime, JIT and the CLI before a model is loaded (measured, rounded up).</summary>
    public const long RuntimeBaseline = 40L << 20;

    public long BytesPerToken => KeyBytesPerToken + ValueBytesPerToken;

    public long PeakRss => KvBytes + PolicyBytes + WeightBytes + ScratchBytes + RuntimeBytes;

    /// <summary>
    /// The same estimate under a KV policy (a spec as <c>--kv-policy</c> takes, with its budget): quest's pages become the
    /// KV pages and its bounds are added; an evicting policy's steady KV is its budget plus one page, per layer.
    /// </summary>
    public static KvEstimate For(Model model, int context, string policy, int budget, KvType keyType = KvType.F16, KvType valueType = KvType.F16,
        int ubatch = 512, int pageSize = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        var p = KvPolicies.KvPolicy.Create(policy, budget > 0 ? budget : context);
        if (p is KvPolicies.QuestPolicy quest)
        {
            var e = For(model, context, keyType, valueType, ubatch, quest.Page);
            var c = model.Config;
            long pages = ((long)context + quest.Page - 1) / quest.Page;
            // Per page and layer: minima and maxima of every key channel, as f32 and as the 8-bit copy with a scale per head.
            long bounds = pages * c.BlockCount * (2L * c.HeadCountKv * c.KeyLength * (sizeof(float) + sizeof(sbyte)) + c.HeadCountKv * sizeof(float));
            return e with { PolicyBytes = bounds };
        }
        var full = For(model, context, keyType, valueType, ubatch, pageSize);
        if (p is KvPolicies.FullPolicy || !p.BoundsDecodeMemory && budget <= 0)
            return full;
        // Whole pages, as the full estimate counts them: never more than the context's pages hold.
        long rounded = ((long)context + pageSize - 1) / pageSize * pageSize;
        long held = Math.Min(rounded, ((long)Math.Min(context, budget > 0 ? budget : context) + pageSize - 1) / pageSize * pageSize + pageSize);
        return full with { SteadyKvBytes = held * (full.KeyBytesPerToken + full.ValueBytesPerToken) };
    }

    public static KvEstimate For(Model model, int context, KvType keyType = KvType.F16, KvType valueType = KvType.F16, int ubatch = 512, int pageSize = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ubatch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        var c = model.Config;
        KvTypes.Validate(keyType, c.KeyLength, "key");
        KvTypes.Validate(valueType, c.ValueLength, "value");
        long k = (long)c.BlockCount * KvTypes.RowBytes(keyType, c.HeadCountKv * c.KeyLength);
        long v = (long)c.BlockCount * KvTypes.RowBytes(valueType, c.HeadCountKv * c.ValueLength);
        long pages = ((long)context + pageSize - 1) / pageSize;
        long kv = pages * pageSize * (k + v);
        long weights = model.File.FileSize - model.File.DataOffset;
        int n = Math.Min(ubatch, context);
        long floats = 3L * n * c.EmbeddingLength
            + (long)n * c.HeadCount * c.KeyLength + (long)n * c.HeadCountKv * (c.KeyLength + c.ValueLength)
            + 2L * n * c.HeadCount * c.ValueLength // attention output and the tiled path's partial sums
            + (c.IsMoe ? 4L * n * c.EmbeddingLength + 2L * n * c.ExpertFeedForwardLength + (long)n * c.ExpertUsedCount * c.EmbeddingLength : 2L * n * c.FeedForwardLength)
            + c.VocabSize;
        // activation quantization buffers of the mat-muls: about one byte per input element
        long scratch = floats * 4 + (long)n * Math.Max(c.FeedForwardLength, c.EmbeddingLength);
        return new KvEstimate(k, v, kv, weights, scratch, RuntimeBaseline);
    }
}
