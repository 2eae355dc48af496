using Fathom.KvCache;
using Fathom.Threading;

namespace Fathom.Models;

/// <summary>One sequence's share of a batched step: its tokens at positions <see cref="Position"/>… and whether its last token's logits are wanted.</summary>
internal readonly record struct BatchItem(KvSequence Sequence, ReadOnlyMemory<int> Tokens, int Position, bool Logits);

/// <summary>
/// The forward pass of several sequences in one step (continuous batching): every sequence's rows are
/// concatenated so each weight matrix is read once per step for all of them, while RoPE and attention
/// use each sequence's own positions and paged KV. Sequences come from <see cref="KvCache"/> and may
/// share pages (prefix caching). Not thread-safe; it parallelises internally on its own workers.
/// </summary>
internal sealed class BatchedForward : IDisposable
{
    private readonly Model _model;
    private readonly TransformerBlocks _blocks;
    private readonly WorkerPool? _pool;
    private BatchSegment[] _segments = [];
    private int[] _logitRows = [];
    private int[] _tokens = [];
    private float[] _logits = [];

    public BatchedForward(Model model, int threads, int pageSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        _model = model;
        var c = model.Config;
        KvCache = new KvCacheManager(new KvCacheOptions
        {
            Layers = c.BlockCount,
            KvHeads = c.HeadCountKv,
            KeyLength = c.KeyLength,
            ValueLength = c.ValueLength,
            PageSize = pageSize,
            KeyType = KvType.F16,
            ValueType = KvType.F16,
        });
        _pool = threads > 1 ? new WorkerPool(threads) : null;
        // The cache argument serves single-sequence batches only; segments carry their own.
        _blocks = new TransformerBlocks(c, model.Weights, null!, _pool, tiled: false, hooks: null, ModelSession.AutoTiledDepth);
    }

    /// <summary>The pool every batched sequence's pages come from.</summary>
    public KvCacheManager KvCache { get; }

    public ModelConfig Config => _model.Config;

    /// <summary>
    /// Computes every item's tokens in one pass and returns, for each item with <see cref="BatchItem.Logits"/>
    /// in order, the n_vocab logits of its last token. The span is valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<BatchItem> items)
    {
        if (items.IsEmpty)
            throw new ArgumentException("no sequences to run", nameof(items));
        var c = _model.Config;
        if (_segments.Length < items.Length)
            _segments = new BatchSegment[items.Length];
        int rows = 0, wanted = 0;
        for (int i = 0; i < items.Length; i++)
        {
            var it = items[i];
            ArgumentNullException.ThrowIfNull(it.Sequence, nameof(items));
            if (it.Tokens.IsEmpty)
                throw new ArgumentException($"item {i} has no tokens", nameof(items));
            if (it.Position < 0 || it.Position + it.Tokens.Length > it.Sequence.Capacity)
                throw new ArgumentException($"item {i}: positions {it.Position}…{it.Position + it.Tokens.Length - 1} exceed its capacity of {it.Sequence.Capacity}", nameof(items));
            KvCache.Own(it.Sequence);
            foreach (int t in it.Tokens.Span)
            {
                if ((uint)t >= (uint)c.VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(items), $"token id {t} is outside the vocabulary of {c.VocabSize}");
            }
            _segments[i] = new BatchSegment(it.Sequence, rows, it.Tokens.Length, it.Position);
            rows += it.Tokens.Length;
            if (it.Logits)
                wanted++;
        }
        if (_tokens.Length < rows)
            _tokens = new int[rows];
        if (_logitRows.Length < wanted)
            _logitRows = new int[wanted];
        if (_logits.Length < wanted * c.VocabSize)
            _logits = new float[wanted * c.VocabSize];
        wanted = 0;
        for (int i = 0; i < items.Length; i++)
        {
            items[i].Tokens.Span.CopyTo(_tokens.AsSpan(_segments[i].Row));
            if (items[i].Logits)
                _logitRows[wanted++] = _segments[i].Row + items[i].Tokens.Length - 1;
        }

        _blocks.BeginSegments(_segments, items.Length);
        _blocks.Embed(_tokens.AsSpan(0, rows));
        var layers = _model.Weights.Layers;
        for (int il = 0; il < layers.Length; il++)
            _model.Family.Layer(_blocks, layers[il], il);
        _blocks.LogitsOfRows(_logitRows.AsSpan(0, wanted), _logits);
        return _logits.AsSpan(0, wanted * c.VocabSize);
    }

    public void Dispose()
    {
        _pool?.Dispose();
        KvCache.Dispose();
    }
}
