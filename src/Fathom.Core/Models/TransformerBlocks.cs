using Fathom.Attention;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Models;

/// <summary>
/// The building blocks every family composes (norm, projections, RoPE, attention, FFN, MoE), over the
/// activations of one batch of tokens. Buffers are row-major [tokens, width] (ggml [width, tokens]) and
/// grow to the largest batch seen; one instance serves one session.
/// </summary>
internal sealed unsafe partial class TransformerBlocks
{
    private readonly ModelWeights _model;
    private readonly Tensors.Rope _rope;
    private readonly AttentionShape _shape;
    private int _capacity;

    private readonly bool _tiled;
    private readonly int _tiledFrom;
    private readonly IAttentionHooks? _hooks;

    /// <param name="tiledFrom">A step (decode or prefill chunk) starting at this position or later runs the tiled path even on an exact-capable cache.</param>
    public TransformerBlocks(ModelConfig config, ModelWeights weights, KvCache.KvSequence cache, WorkerPool? pool, bool tiled, IAttentionHooks? hooks,
        int tiledFrom = int.MaxValue)
    {
        _tiled = tiled;
        _tiledFrom = tiledFrom;
        _hooks = hooks;
        Config = config;
        _model = weights;
        Cache = cache;
        Pool = pool;
        _rope = new Tensors.Rope(config.RopeDimensionCount, config.RopeFreqBase,
            config.RopeStyle == RopeStyle.NeoX ? RopeLayout.NeoX : RopeLayout.Normal, config.RopeFreqScale,
            config.YarnExtFactor, config.YarnAttnFactor, config.YarnBetaFast, config.YarnBetaSlow,
            config.RopeOriginalContextLength, weights.RopeFreqs is { } f ? f.Span : default);
        _shape = new AttentionShape(config.HeadCount, config.HeadCountKv, config.KeyLength, config.ValueLength,
            1f / MathF.Sqrt(config.KeyLength));
    }

    public ModelConfig Config { get; }
    public KvCache.KvSequence Cache { get; }
    public WorkerPool? Pool { get; }
    public ActivationTap? Tap { get; set; }

    /// <summary>Tokens in the current batch and the position of the first.</summary>
    public int Tokens { get; private set; }
    public int FirstPosition { get; private set; }

    /// <summary>The residual stream (layer input / output).</summary>
    public float[] X { get; private set; } = [];

    /// <summary>The normed input of the current sub-block.</summary>
    public float[] Cur { get; private set; } = [];

    public float[] Q { get; private set; } = [];
    public float[] K { get; private set; } = [];
    public float[] V { get; private set; } = [];

    /// <summary>Attention output, heads concatenated.</summary>
    public float[] Kqv { get; private set; } = [];

    /// <summary>Output of a sub-block (attention projection or FFN) before the residual add.</summary>
    public float[] Out { get; private set; } = [];

    private float[] _gate = [], _up = [], _router = [], _expertIn = [], _expertOut = [], _expertGate = [], _expertUp = [], _slots = [], _weights = [];
    private int[] _chosen = [], _members = [];

    public void Begin(int tokens, int firstPosition)
    {
        Tokens = tokens;
        FirstPosition = firstPosition;
        _segments = null;
        if (tokens > _capacity)
            Allocate(tokens);
    }

    private void Allocate(int n)
    {
        var c = Config;
        _capacity = n;
        X = new float[n * c.EmbeddingLength];
        Cur = new float[n * c.EmbeddingLength];
        Out = new float[n * c.EmbeddingLength];
        Q = new float[n * c.HeadCount * c.KeyLength];
        K = new float[n * c.HeadCountKv * c.KeyLength];
        V = new float[n * c.HeadCountKv * c.ValueLength];
        Kqv = new float[n * c.HeadCount * c.ValueLength];
        if (c.IsMoe)
        {
            int ff = c.ExpertFeedForwardLength;
            _router = new float[n * c.ExpertCount];
            _expertIn = new float[n * c.EmbeddingLength];
            _expertGate = new float[n * ff];
            _expertUp = new float[n * ff];
            _expertOut = new float[n * c.EmbeddingLength];
            _slots = new float[n * c.ExpertUsedCount * c.EmbeddingLength];
            _chosen = new int[n * c.ExpertUsedCount];
            _weights = new float[n * c.ExpertUsedCount];
            _members = new int[n];
        }
        else
        {
            _gate = new float[n * c.FeedForwardLength];
            _up = new float[n * c.FeedForwardLength];
        }
    }

    private void Emit(string name, int layer, ReadOnlySpan<float> values, int width)
    {
        if (Tap is { } tap)
            tap(layer < 0 ? name : $"{name}-{layer}", values[..(Tokens * width)], width);
    }

    // ---- blocks ------------------------------------------------------------------------------

    /// <summary>X = token_embd rows of the batch's tokens.</summary>
    public void Embed(ReadOnlySpan<int> tokens)
    {
        var emb = _model.TokenEmbedding;
        int e = Config.EmbeddingLength;
        for (int t = 0; t < tokens.Length; t++)
        {
            var dst = X.AsSpan(t * e, e);
            var row = emb.Row(tokens[t]);
            if (emb.Type == GgmlType.F32)
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(row).CopyTo(dst);
            else
                Tensors.Quants.Dequantize.Row(emb.Type, row, dst);
        }
    }

    /// <summary>Cur = RmsNorm(X) · weight, row by row.</summary>
    public void Norm(Vec weight, string name, int layer)
    {
        int e = Config.EmbeddingLength;
        for (int t = 0; t < Tokens; t++)
            Elementwise.RmsNorm(X.AsSpan(t * e, e), weight.Span, Cur.AsSpan(t * e, e), Config.RmsEpsilon);
        Emit(name, layer, Cur, e);
    }

    /// <summary>destination = w · Cur (+ bias).</summary>
    public void Project(Linear w, Vec? bias, float[] destination, string name, int layer) =>
        Project(w, bias, Cur, destination, name, layer);

    /// <summary>Q, K, V = w · Cur (+ bias); in decode one parallel loop for all three.</summary>
    public void ProjectQkv(Linear q, Vec? qBias, Linear k, Vec? kBias, Linear v, Vec? vBias, int layer)
    {
        if (!Linear.TryApplyFused(Cur, Tokens, q, Q, k, K, v, V, Pool))
        {
            Project(q, qBias, Q, "Qcur", layer);
            Project(k, kBias, K, "Kcur", layer);
            Project(v, vBias, V, "Vcur", layer);
            return;
        }
        Finish(q, qBias, Q, "Qcur", layer);
        Finish(k, kBias, K, "Kcur", layer);
        Finish(v, vBias, V, "Vcur", layer);
    }

    private void Project(Linear w, Vec? bias, float[] source, float[] destination, string name, int layer)
    {
        w.Apply(source, Tokens, destination, Pool);
        Finish(w, bias, destination, name, layer);
    }

    private void Finish(Linear w, Vec? bias, float[] destination, string name, int layer)
    {
        if (bias is not null)
        {
            for (int t = 0; t < Tokens; t++)
            {
                var row = destination.AsSpan(t * w.Rows, w.Rows);
                Elementwise.Add(row, bias.Span, row);
            }
        }
        Emit(name, layer, destination, w.Rows);
    }

    /// <summary>RMS norm of each head of x with a head-sized weight (qwen3's q/k norm).</summary>
    public void HeadNorm(float[] x, int heads, Vec weight, string name, int layer)
    {
        int d = weight.Length;
        for (int r = 0; r < Tokens * heads; r++)
            Elementwise.RmsNorm(x.AsSpan(r * d, d), weight.Span, x.AsSpan(r * d, d), Config.RmsEpsilon);
        Emit(name, layer, x, heads * d);
    }

    /// <summary>Rotates every key head of a cached row by <paramref name="delta"/> positions (context shift).</summary>
    public void RotateKeys(float[] row, int delta) => _rope.Apply(row, Config.KeyLength, delta);

    /// <summary>Rotates every head of x by its token's position.</summary>
    public void Rope(float[] x, int heads, string name, int layer)
    {
        int width = heads * Config.KeyLength;
        for (int t = 0; t < Tokens; t++)
            _rope.Apply(x.AsSpan(t * width, width), Config.KeyLength, PositionOf(t));
        Emit(name, layer, x, heads * Config.KeyLength);
    }

    /// <summary>Stores K and V in the cache at the batch's positions, then Kqv = causal attention of Q over the cache.</summary>
    public void Attend(int layer)
    {
        if (_segments is not null)
        {
            AttendSegments(layer);
            return;
        }
        int kw = Config.HeadCountKv * Config.KeyLength, vw = Config.HeadCountKv * Config.ValueLength;
        for (int t = 0; t < Tokens; t++)
            Cache.Store(layer, FirstPosition + t, K.AsSpan(t * kw, kw), V.AsSpan(t * vw, vw));
        if (Tiled(Cache, Tokens, FirstPosition))
            TiledAttention.Compute(Cache, layer, Q, Tokens, FirstPosition, _shape, Kqv, Pool, _hooks);
        else
            CausalAttention.Compute(Cache, layer, Q, Tokens, FirstPosition, _shape, Kqv, Pool);
        Emit("kqv_out", layer, Kqv, Config.HeadCount * Config.ValueLength);
    }

    private bool Tiled(KvCache.KvSequence cache, int tokens, int firstPosition) =>
        _tiled || !cache.IsDense || firstPosition >= _tiledFrom;

    /// <summary>Out = w · Kqv.</summary>
    public void AttentionOutput(Linear w, int layer) => Project(w, null, Kqv, Out, "attn_out", layer);

    /// <summary>X += Out.</summary>
    public void Residual(string name, int layer)
    {
        var x = X.AsSpan(0, Tokens * Config.EmbeddingLength);
        Elementwise.Add(x, Out.AsSpan(0, x.Length), x);
        Emit(name, layer, X, Config.EmbeddingLength);
    }

    /// <summary>Out = down · (silu(gate · Cur) ⊙ (up · Cur)).</summary>
    public void SwiGluFfn(Linear gate, Linear up, Linear down, int layer)
    {
        // Decode: gate, up and SwiGLU in one parallel loop (unless a tap wants gate and up before SwiGLU).
        if (Tap is null && Linear.TryApplyFused(Cur, Tokens, gate, _gate, up, _up, null, default, Pool, swiGlu: true))
        {
            Project(down, null, _gate, Out, "ffn_out", layer);
            return;
        }
        if (Linear.TryApplyFused(Cur, Tokens, gate, _gate, up, _up, null, default, Pool))
        {
            Finish(gate, null, _gate, "ffn_gate", layer);
            Finish(up, null, _up, "ffn_up", layer);
        }
        else
        {
            Project(gate, null, Cur, _gate, "ffn_gate", layer);
            Project(up, null, Cur, _up, "ffn_up", layer);
        }
        for (int t = 0; t < Tokens; t++)
            GgmlMath.SwiGlu(_gate.AsSpan(t * gate.Rows, gate.Rows), _up.AsSpan(t * gate.Rows, gate.Rows));
        Project(down, null, _gate, Out, "ffn_out", layer);
    }

    /// <summary>
    /// Out = Σ over the top-k experts of w_e · SwiGLU_e(Cur): router softmax → top-k → weights
    /// renormalised to sum 1, experts added in rank order as llama.cpp's build_moe_ffn does.
    /// </summary>
    public void MoeFfn(Linear router, Linear[] gates, Linear[] ups, Linear[] downs, int layer)
    {
        var c = Config;
        int nExp = c.ExpertCount, k = c.ExpertUsedCount, e = c.EmbeddingLength;
        Project(router, null, Cur, _router, "ffn_moe_logits", layer);
        var chosen = _chosen.AsSpan(0, Tokens * k);
        var weights = _weights.AsSpan(0, Tokens * k);
        for (int t = 0; t < Tokens; t++)
        {
            var probs = _router.AsSpan(t * nExp, nExp);
            GgmlMath.Softmax(probs);
            TopK(probs, chosen.Slice(t * k, k));
            double sum = 0;
            for (int s = 0; s < k; s++)
                sum += weights[t * k + s] = probs[chosen[t * k + s]];
            float total = (float)sum;
            for (int s = 0; s < k; s++)
                weights[t * k + s] /= total;
        }

        var members = _members;
        for (int x = 0; x < nExp; x++)
        {
            int n = 0;
            for (int t = 0; t < Tokens; t++)
            {
                for (int s = 0; s < k; s++)
                {
                    if (chosen[t * k + s] == x)
                    {
                        Cur.AsSpan(t * e, e).CopyTo(_expertIn.AsSpan(n * e, e));
                        members[n++] = t * k + s;
                    }
                }
            }
            if (n == 0)
                continue;
            gates[x].Apply(_expertIn, n, _expertGate, Pool);
            ups[x].Apply(_expertIn, n, _expertUp, Pool);
            int ff = gates[x].Rows;
            for (int i = 0; i < n; i++)
                GgmlMath.SwiGlu(_expertGate.AsSpan(i * ff, ff), _expertUp.AsSpan(i * ff, ff));
            downs[x].Apply(_expertGate, n, _expertOut, Pool);
            for (int i = 0; i < n; i++)
            {
                float w = weights[members[i]];
                var src = _expertOut.AsSpan(i * e, e);
                var dst = _slots.AsSpan(members[i] * e, e);
                for (int j = 0; j < e; j++)
                    dst[j] = src[j] * w;
            }
        }

        for (int t = 0; t < Tokens; t++)
        {
            var o = Out.AsSpan(t * e, e);
            _slots.AsSpan(t * k * e, e).CopyTo(o);
            for (int s = 1; s < k; s++)
                Elementwise.Add(o, _slots.AsSpan((t * k + s) * e, e), o);
        }
        Emit("ffn_moe_out", layer, Out, e);
    }

    // Highest probability first; ties keep the lower expert id first.
    private static void TopK(ReadOnlySpan<float> probs, Span<int> chosen)
    {
        for (int s = 0; s < chosen.Length; s++)
        {
            int best = -1;
            for (int i = 0; i < probs.Length; i++)
            {
                if (chosen[..s].Contains(i))
                    continue;
                if (best < 0 || probs[i] > probs[best])
                    best = i;
            }
            chosen[s] = best;
        }
    }

    /// <summary>Final norm of every row, then logits for the last row or for every row.</summary>
    public void Logits(Span<float> logits, bool allRows)
    {
        int e = Config.EmbeddingLength;
        for (int t = 0; t < Tokens; t++)
            Elementwise.RmsNorm(X.AsSpan(t * e, e), _model.OutputNorm.Span, Cur.AsSpan(t * e, e), Config.RmsEpsilon);
        Emit("result_norm", -1, Cur, e);
        if (allRows)
        {
            _model.Output.Apply(Cur, Tokens, logits, Pool);
            Emit("result_output", -1, logits, Config.VocabSize);
        }
        else
        {
            _model.Output.Apply(Cur.AsSpan((Tokens - 1) * e, e), 1, logits, Pool);
        }
    }
}
