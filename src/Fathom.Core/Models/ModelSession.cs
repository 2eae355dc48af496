using Fathom.Attention;
using Fathom.KvCache;
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
    private readonly WorkerPool? _pool;
    private float[] _logits = [];

    private readonly KvCacheManager _kv;
    private readonly int _ubatch;

    internal ModelSession(Model model, int contextLength, SessionOptions options)
    {
        _model = model;
        var c = model.Config;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.UBatch);
        _ubatch = options.UBatch;
        _kv = new KvCacheManager(new KvCacheOptions
        {
            Layers = c.BlockCount,
            KvHeads = c.HeadCountKv,
            KeyLength = c.KeyLength,
            ValueLength = c.ValueLength,
            PageSize = options.PageSize,
            KeyType = options.KeyType,
            ValueType = options.ValueType,
            RamBytes = options.KvRamBytes,
            SpillDirectory = options.SpillDirectory,
            TrackKeyBounds = options.TrackKeyBounds,
        });
        Sequence = _kv.Create(contextLength);
        bool exactCapable = options.KeyType == KvType.F16 && options.ValueType == KvType.F16 && options.Hooks is null;
        if (options.Attention == AttentionPath.Exact && !exactCapable)
            throw new ArgumentException("the exact attention path needs f16 keys and values and no hooks", nameof(options));
        bool tiled = options.Attention == AttentionPath.Tiled || !exactCapable;
        _pool = options.Threads > 1 ? new WorkerPool(options.Threads) : null;
        _config = options.Rope is { } rope ? rope.Apply(c) : c;
        _blocks = new TransformerBlocks(_config, model.Weights, Sequence, _pool, tiled, options.Hooks);
    }

    /// <summary>The paged KV cache of this session's sequence.</summary>
    public KvSequence Sequence { get; }

    /// <summary>The pool the sequence's pages come from (accounting, tiers).</summary>
    public KvCacheManager KvCache => _kv;

    private readonly ModelConfig _config;

    /// <summary>The model's configuration with this session's RoPE overrides applied.</summary>
    public ModelConfig Config => _config;

    /// <summary>Tokens already in the cache; the next token goes to this position.</summary>
    public int Position { get; private set; }

    /// <summary>Positions the KV cache holds.</summary>
    public int ContextLength => Cache.Capacity;

    public IKvCache Cache => Sequence;

    /// <summary>Receives named intermediates (llama.cpp's names) when set; null costs nothing.</summary>
    public ActivationTap? Tap
    {
        get => _blocks.Tap;
        set => _blocks.Tap = value;
    }

    /// <summary>Stops the session's worker threads.</summary>
    public void Dispose()
    {
        _pool?.Dispose();
        _kv.Dispose();
    }

    /// <summary>Forgets every cached position.</summary>
    public void Reset()
    {
        Position = 0;
        Sequence.Truncate(0);
    }

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

        // Chunks of UBatch tokens: scratch is sized by the chunk, only the KV grows with the prompt.
        var family = _model.Family;
        var layers = _model.Weights.Layers;
        for (int start = 0; start < tokens.Length; start += _ubatch)
        {
            int n = Math.Min(_ubatch, tokens.Length - start);
            bool last = start + n == tokens.Length;
            _blocks.Begin(n, Position);
            _blocks.Embed(tokens.Slice(start, n));
            for (int il = 0; il < layers.Length; il++)
                family.Layer(_blocks, layers[il], il);
            if (allLogits)
                _blocks.Logits(_logits.AsSpan(start * c.VocabSize, n * c.VocabSize), true);
            else if (last)
                _blocks.Logits(_logits, false);
            Position += n;
        }
        return _logits.AsSpan(0, rows * c.VocabSize);
    }
}
