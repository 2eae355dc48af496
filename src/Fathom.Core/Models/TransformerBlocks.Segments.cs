using Fathom.Attention;
using Fathom.KvCache;
using Fathom.Tensors;

namespace Fathom.Models;

/// <summary>Rows <see cref="Row"/>… of a batch belong to one sequence: its cache and the position of its first row.</summary>
internal readonly record struct BatchSegment(KvSequence Cache, int Row, int Tokens, int FirstPosition);

internal sealed partial class TransformerBlocks
{
    private BatchSegment[]? _segments;

    /// <summary>
    /// Starts a batch whose rows belong to several sequences: projections and FFN run once over all rows,
    /// RoPE uses each row's own position and attention reads each sequence's own cache.
    /// </summary>
    public void BeginSegments(BatchSegment[] segments, int count)
    {
        int rows = 0;
        for (int i = 0; i < count; i++)
        {
            if (segments[i].Row != rows || segments[i].Tokens <= 0)
                throw new ArgumentException("segments must be non-empty and cover the rows in order", nameof(segments));
            rows += segments[i].Tokens;
        }
        Begin(rows, 0);
        _segments = segments[..count];
    }

    private int PositionOf(int row)
    {
        if (_segments is null)
            return FirstPosition + row;
        // Few segments per step; a linear scan is cheaper than any index.
        foreach (var s in _segments)
        {
            if (row < s.Row + s.Tokens)
                return s.FirstPosition + row - s.Row;
        }
        throw new ArgumentOutOfRangeException(nameof(row));
    }

    private void AttendSegments(int layer)
    {
        int kw = Config.HeadCountKv * Config.KeyLength, vw = Config.HeadCountKv * Config.ValueLength;
        int qw = Config.HeadCount * Config.KeyLength, ow = Config.HeadCount * Config.ValueLength;
        foreach (var s in _segments!)
        {
            for (int t = 0; t < s.Tokens; t++)
                s.Cache.Store(layer, s.FirstPosition + t, K.AsSpan((s.Row + t) * kw, kw), V.AsSpan((s.Row + t) * vw, vw));
            var q = Q.AsSpan(s.Row * qw, s.Tokens * qw);
            var o = Kqv.AsSpan(s.Row * ow, s.Tokens * ow);
            if (Tiled(s.Cache, s.Tokens, s.FirstPosition))
                TiledAttention.Compute(s.Cache, layer, q, s.Tokens, s.FirstPosition, _shape, o, Pool, _hooks);
            else
                CausalAttention.Compute(s.Cache, layer, q, s.Tokens, s.FirstPosition, _shape, o, Pool);
        }
        Emit("kqv_out", layer, Kqv, ow);
    }

    /// <summary>Final norm and logits of the listed rows only, one n_vocab row each in <paramref name="logits"/>.</summary>
    public void LogitsOfRows(ReadOnlySpan<int> rows, Span<float> logits)
    {
        int e = Config.EmbeddingLength;
        // Cur is free after the last layer: the chosen rows are normed into its first rows.
        for (int i = 0; i < rows.Length; i++)
            Elementwise.RmsNorm(X.AsSpan(rows[i] * e, e), _model.OutputNorm.Span, Cur.AsSpan(i * e, e), Config.RmsEpsilon);
        if (rows.Length > 0)
            _model.Output.Apply(Cur.AsSpan(0, rows.Length * e), rows.Length, logits[..(rows.Length * Config.VocabSize)], Pool);
    }
}
