using Fathom.Models;

namespace Fathom.KvCache;

/// <summary>
/// Memory a session will use: KV bytes per token (2 × layers × kv heads × head size × bytes per
/// element, block scales included), KV for a context rounded up to whole pages, the mapped weights,
/// the forward scratch of one ubatch, and the runtime's own baseline.
/// </summary>
public sealed record KvEstimate(long KeyBytesPerToken, long ValueBytesPerToken, long KvBytes, long WeightBytes, long ScratchBytes, long RuntimeBytes)
{
    /// <summary>Resident memory of the .NET runtime, JIT and the CLI before a model is loaded (measured, rounded up).</summary>
    public const long RuntimeBaseline = 40L << 20;

    public long BytesPerToken => KeyBytesPerToken + ValueBytesPerToken;

    public long PeakRss => KvBytes + WeightBytes + ScratchBytes + RuntimeBytes;

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
