using Fathom.Attention;
using Fathom.Threading;

namespace Fathom.Models;

/// <summary>
/// One sequence being run through a <see cref="Model"/>: its KV cache, its position and the scratch of
/// the forward pass. A batch of tokens (a prompt) goes through in one <see cref="Forward"/> call; decoding
/// is the same call with one token. Not thread-safe; it parallelises internally on its own worker
/// threads, which <see cref="Dispose"/> stops.
/// </summary>
public sealed class ModelSession : IDisposable
{
    private readonly Model _model;
    private readonly TransformerBlocks _blocks;
    /// <summary>Most tokens computed together; longer inputs are split (llama.cpp's default n_ubatch).</summary>
    public const int MicroBatch = 512;

    private readonly WorkerPool? _pool;
    private float[] _logits = [];

    internal ModelSession(Model model, int contextLength, int threads)
    {
        _model = model;
        var c = model.Config;
        Cache = new ContiguousKvCache(c.BlockCount, contextLength, c.HeadCountKv * c.KeyLength, c.HeadCountKv * c.ValueLength);
        _blocks = new TransformerBlocks(c, model.Weights, Cache, _pool = threads > 1 ? new WorkerPool(threads) : null);
    }

    public ModelConfig Config => _model.Config;

    /// <summary>Tokens already in the cache; the next token goes to this position.</summary>
    public int Position { get; private set; }

    /// <summary>Positions the KV cache holds.</summary>
    public int ContextLength => Cache.Capacity;

    public IKvCache Cache { get; }

    /// <summary>Receives named intermediates (llama.cpp's names) when set; null costs nothing.</summary>
    public ActivationTap? Tap
    {
        get => _blocks.Tap;
        set => _blocks.Tap = value;
    }

    /// <summary>Stops the session's worker threads.</summary>
    public void Dispose() => _pool?.Dispose();

    /// <summary>Forgets every cached position.</summary>
    public void Reset() => Position = 0;

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <see cref="Position"/>… and returns the logits: one row
    /// of n_vocab for the last token, or one per token when <paramref name="allLogits"/>. The span is valid
    /// until the next call.
    /// </summary>
    public ReadOnlySpan<float> Forward(scoped ReadOnlySpan<int> tokens, bool allLogits = false)
    {
        var c = Config;
        if (tokens.IsEmpty)
            throw new ArgumentException("no tokens to run", nameof(tokens));
        if (Position + tokens.Length > ContextLength)
            throw new ArgumentException($"{Position} cached + {tokens.Length} new tokens exceed the context of {ContextLength}", nameof(tokens));
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)c.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} is outside the vocabulary of {c.VocabSize}");
        }

        int rows = allLogits ? tokens.Length : 1;
        if (_logits.Length < rows * c.VocabSize)
            _logits = new float[rows * c.VocabSize];

        // Long inputs go through in micro-batches (llama.cpp's n_ubatch), which bounds the scratch.
        var family = _model.Family;
        var layers = _model.Weights.Layers;
        for (int start = 0; start < tokens.Length; start += MicroBatch)
        {
            var batch = tokens.Slice(start, Math.Min(MicroBatch, tokens.Length - start));
            bool lastBatch = start + batch.Length == tokens.Length;
            _blocks.Begin(batch.Length, Position);
            _blocks.Embed(batch);
            for (int il = 0; il < layers.Length; il++)
                family.Layer(_blocks, layers[il], il);
            if (allLogits)
                _blocks.Logits(_logits.AsSpan(start * c.VocabSize, batch.Length * c.VocabSize), allRows: true);
            else if (lastBatch)
                _blocks.Logits(_logits.AsSpan(0, c.VocabSize), allRows: false);
            Position += batch.Length;
        }
        return _logits.AsSpan(0, rows * c.VocabSize);
    }
}
