using Fathom.Attention;
using Fathom.KvCache;
using Fathom.KvPolicies;
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

    private readonly KvCacheManager _kv;
    private readonly int _ubatch;

    internal ModelSession(Model model, int contextLength, SessionOptions options)
    {
        _model = model;
        var c = model.Config;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.UBatch);
        ArgumentOutOfRangeException.ThrowIfNegative(options.KvBudget);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxPositions);
        _ubatch = options.UBatch;
        IKvPolicy? policy = options.KvPolicy is { } spec ? KvPolicies.KvPolicy.Create(spec, options.KvBudget > 0 ? options.KvBudget : contextLength) : null;
        if (policy is FullPolicy)
            policy = null;
        if (policy is not null && options.Hooks is not null)
            throw new ArgumentException("a session takes either a KV policy or attention hooks, not both", nameof(options));
        var quest = policy as QuestPolicy;
        int pageSize = quest?.Page ?? options.PageSize;
        _kv = new KvCacheManager(new KvCacheOptions
        {
            Layers = c.BlockCount,
            KvHeads = c.HeadCountKv,
            KeyLength = c.KeyLength,
            ValueLength = c.ValueLength,
            PageSize = pageSize,
            KeyType = options.KeyType,
            ValueType = options.ValueType,
            RamBytes = options.KvRamBytes,
            SpillDirectory = options.SpillDirectory,
            TrackKeyBounds = options.TrackKeyBounds || quest is not null,
        });
        Sequence = _kv.Create(contextLength);
        MaxPositions = Math.Max(contextLength, options.MaxPositions);
        if (policy is not null)
        {
            _policy = new KvPolicyRunner(policy, Sequence, new KvPolicyGeometry(c.BlockCount, c.HeadCountKv, c.HeadCount / c.HeadCountKv,
                c.KeyLength, c.ValueLength, MaxPositions, pageSize));
        }
        var hooks = options.Hooks ?? _policy;
        bool exactCapable = options.KeyType == KvType.F16 && options.ValueType == KvType.F16 && hooks is null;
        if (options.Attention == AttentionPath.Exact && !exactCapable)
            throw new ArgumentException("the exact attention path needs f16 keys and values and no hooks or KV policy", nameof(options));
        bool tiled = options.Attention == AttentionPath.Tiled || !exactCapable;
        _pool = options.Threads > 1 ? new WorkerPool(options.Threads) : null;
        _config = options.Rope is { } rope ? rope.Apply(c) : c;
        _blocks = new TransformerBlocks(_config, model.Weights, Sequence, _pool, tiled, hooks,
            options.Attention == AttentionPath.Auto ? AutoTiledDepth : int.MaxValue);
    }

    private readonly KvPolicyRunner? _policy;

    /// <summary>
    /// With <see cref="AttentionPath.Auto"/>, steps (decode, and prefill chunks) starting at this position or later take the
    /// tiled path: below it the exact path costs little and keeps llama.cpp's bits, beyond it the tiled path is about
    /// twice as fast for decode and 1.5× for prefill (docs/BENCHMARKS.md).
    /// </summary>
    public const int AutoTiledDepth = 2048;

    /// <summary>The policy runner (null for full attention).</summary>
    internal KvPolicyRunner? PolicyRunner => _policy;

    /// <summary>The session's KV policy (null: full attention, every position kept and read).</summary>
    public IKvPolicy? KvPolicy => _policy?.Policy;

    /// <summary>Positions evicted by the KV policy so far, summed over layers.</summary>
    public long KvEvictedSlots => _policy?.EvictedSlots ?? 0;

    /// <summary>Positions <paramref name="layer"/> keeps (its slots, less those a policy evicted and has not dropped yet).</summary>
    public int KvHeldPositions(int layer) => Sequence.SlotCount(layer) - (_policy?.DeadSlots(layer) ?? 0);

    /// <summary>Positions this session may run (at least <see cref="ContextLength"/>; more only with an evicting policy).</summary>
    public int MaxPositions { get; }

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

    internal Model Model => _model;

    /// <summary>After a prompt cache restored <paramref name="positions"/> positions.</summary>
    internal void Restored(int positions)
    {
        Position = positions;
        _policy?.Restored(positions);
    }

    /// <summary>
    /// Continues from <paramref name="position"/>: drops the cached positions at and after it. The cache must
    /// hold every position before it in every layer (run through <see cref="Forward"/> or written with
    /// <see cref="KvSequence.Store"/>, e.g. a synthetic fill for timing); a KV policy must not have evicted.
    /// </summary>
    public void Rewind(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        if (_policy is { Evicted: true })
            throw new InvalidOperationException($"the KV policy '{_policy.Policy.Name}' evicted positions; the sequence cannot be rewound");
        Sequence.TruncateFrom(position);
        for (int l = 0; l < Sequence.LayerCount; l++)
        {
            if (Sequence.SlotCount(l) != position || (position > 0 && Sequence.Positions(l)[position - 1] != position - 1))
                throw new InvalidOperationException($"layer {l} does not hold positions 0..{position - 1}; cannot continue from {position}");
        }
        Restored(position);
    }

    /// <summary>
    /// Context shift (llama.cpp's): keeps the first <paramref name="keep"/> positions, drops the oldest
    /// half of the rest and re-rotates the surviving keys so positions stay contiguous. Returns the
    /// number of positions dropped. Keys are rotated by -dropped (RoPE composes additively; with
    /// YaRN's attention factor ≠ 1 the magnitude is scaled again, as in llama.cpp).
    /// </summary>
    public int Shift(int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        if (_policy is not null)
            throw new InvalidOperationException($"context shift does not combine with the KV policy '{_policy.Policy.Name}'; let the policy bound memory instead");
        if (!Sequence.IsDense || Sequence.SlotCount(0) != Position)
            throw new InvalidOperationException("context shift needs a dense cache (no evicted positions)");
        if (keep >= Position - 1)
            throw new InvalidOperationException($"cannot shift: keeping {keep} of {Position} positions leaves nothing to drop");
        int discard = (Position - keep) / 2;
        for (int l = 0; l < Sequence.LayerCount; l++)
            Sequence.Shift(l, keep, discard, _blocks.RotateKeys);
        Position -= discard;
        return discard;
    }

    /// <summary>Forgets every cached position.</summary>
    public void Reset()
    {
        Position = 0;
        Sequence.Truncate(0);
        _policy?.Reset();
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
        if (Position + tokens.Length > MaxPositions)
            throw new ArgumentException($"{Position} cached + {tokens.Length} new tokens exceed the context of {MaxPositions}", nameof(tokens));
        int held = 0;
        for (int l = 0; l < Sequence.LayerCount; l++)
            held = Math.Max(held, Sequence.SlotCount(l));
        if (held + tokens.Length > ContextLength)
        {
            throw new KvCacheFullException($"the KV cache holds {held} of {ContextLength} positions and cannot take {tokens.Length} more" +
                (_policy is null ? "" : $" (KV policy '{_policy.Policy.Name}' {_policy.Policy.Parameters} does not evict enough)"));
        }
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
        _policy?.BeginForward(Position, tokens.Length);
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
        _policy?.EndForward();
        return _logits.AsSpan(0, rows * c.VocabSize);
    }
}
