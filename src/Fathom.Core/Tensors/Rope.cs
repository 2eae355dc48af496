namespace Fathom.Tensors;

/// <summary>How RoPE pairs the elements of a head: adjacent (Llama) or split halves (NeoX, Qwen).</summary>
public enum RopeLayout
{
    /// <summary>Rotates (x[2i], x[2i+1]).</summary>
    Normal,

    /// <summary>Rotates (x[i], x[i + dims/2]).</summary>
    NeoX,
}

/// <summary>
/// Rotary position embedding computed exactly as ggml's CPU ROPE: θ_i = pos·s^i in float32 by
/// repeated multiplication with s = powf(base, −2/dims), divided by the per-pair frequency factor
/// when present (llama3-style scaling arrives as rope_freqs), then linear/YaRN scaling (rope_yarn).
/// Elements of a head beyond <c>dims</c> pass through unchanged.
/// </summary>
public sealed class Rope
{
    private readonly float[]? _freqFactors;
    private readonly float _thetaScale;
    private readonly float _corr0, _corr1;

    /// <param name="dims">Rotated dimensions per head (n_rot); even.</param>
    /// <param name="freqBase">θ base (rope.freq_base).</param>
    /// <param name="layout">Pairing of elements.</param>
    /// <param name="freqScale">1/linear scaling factor (1 = no scaling).</param>
    /// <param name="extFactor">YaRN extrapolation mix; 0 disables YaRN.</param>
    /// <param name="attnFactor">Magnitude scale applied to cos and sin (YaRN attention factor).</param>
    /// <param name="betaFast">YaRN β_fast.</param>
    /// <param name="betaSlow">YaRN β_slow.</param>
    /// <param name="originalContext">YaRN original training context (n_ctx_orig).</param>
    /// <param name="freqFactors">Per-pair divisors (rope_freqs), length dims/2, or null.</param>
    public Rope(int dims, float freqBase, RopeLayout layout = RopeLayout.Normal, float freqScale = 1f,
        float extFactor = 0f, float attnFactor = 1f, float betaFast = 32f, float betaSlow = 1f,
        int originalContext = 0, ReadOnlySpan<float> freqFactors = default)
    {
        if (dims <= 0 || dims % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(dims), $"RoPE dims must be positive and even, got {dims}.");
        if (!(freqBase > 0))
            throw new ArgumentOutOfRangeException(nameof(freqBase), $"RoPE base must be positive, got {freqBase}.");
        if (!freqFactors.IsEmpty && freqFactors.Length != dims / 2)
            throw new ArgumentException($"rope_freqs has {freqFactors.Length} values; expected dims/2 = {dims / 2}.", nameof(freqFactors));
        Dims = dims;
        FreqBase = freqBase;
        Layout = layout;
        FreqScale = freqScale;
        ExtFactor = extFactor;
        AttnFactor = attnFactor;
        _freqFactors = freqFactors.IsEmpty ? null : freqFactors.ToArray();
        _thetaScale = MathF.Pow(freqBase, -2.0f / dims);
        CorrDims(dims, originalContext, freqBase, betaFast, betaSlow, out _corr0, out _corr1);
    }

    public int Dims { get; }
    public float FreqBase { get; }
    public RopeLayout Layout { get; }
    public float FreqScale { get; }
    public float ExtFactor { get; }
    public float AttnFactor { get; }

    /// <summary>Rotates every head of <paramref name="x"/> (heads of <paramref name="headDim"/> elements, back to back) for one position.</summary>
    public void Apply(Span<float> x, int headDim, int position)
    {
        if (headDim < Dims || x.Length % headDim != 0)
            throw new ArgumentException($"{x.Length} values are not whole heads of {headDim} (≥ dims {Dims}).", nameof(x));
        Span<float> cache = Dims <= 1024 ? stackalloc float[Dims] : new float[Dims];
        ComputeCache(position, cache);
        for (int h = 0; h < x.Length; h += headDim)
            Rotate(x.Slice(h, headDim), cache);
    }

    /// <summary>cos/sin pairs (cache[2i] = cos θ_i·mscale, cache[2i+1] = sin θ_i·mscale) for one position, as ggml_rope_cache_init.</summary>
    public void ComputeCache(int position, Span<float> cache)
    {
        if (cache.Length < Dims)
            throw new ArgumentException($"Cache needs {Dims} floats.", nameof(cache));
        float theta = position;
        for (int i0 = 0; i0 < Dims; i0 += 2)
        {
            float ff = _freqFactors is null ? 1.0f : _freqFactors[i0 / 2];
            Yarn(theta / ff, i0, out cache[i0], out cache[i0 + 1]);
            theta *= _thetaScale;
        }
    }

    private void Rotate(Span<float> head, ReadOnlySpan<float> cache)
    {
        if (Layout == RopeLayout.Normal)
        {
            for (int i0 = 0; i0 < Dims; i0 += 2)
            {
                float c = cache[i0], s = cache[i0 + 1];
                float x0 = head[i0], x1 = head[i0 + 1];
                head[i0] = x0 * c - x1 * s;
                head[i0 + 1] = x0 * s + x1 * c;
            }
        }
        else
        {
            int half = Dims / 2;
            for (int i0 = 0; i0 < Dims; i0 += 2)
            {
                float c = cache[i0], s = cache[i0 + 1];
                int i = i0 / 2;
                float x0 = head[i], x1 = head[i + half];
                head[i] = x0 * c - x1 * s;
                head[i + half] = x0 * s + x1 * c;
            }
        }
    }

    // ggml's rope_yarn: interpolate/extrapolate θ per dimension and scale the magnitude.
    private void Yarn(float thetaExtrap, int i0, out float cos, out float sin)
    {
        float thetaInterp = FreqScale * thetaExtrap;
        float theta = thetaInterp;
        float mscale = AttnFactor;
        if (ExtFactor != 0.0f)
        {
            float y = (i0 / 2 - _corr0) / MathF.Max(0.001f, _corr1 - _corr0);
            float rampMix = (1 - MathF.Min(1, MathF.Max(0, y))) * ExtFactor;
            theta = thetaInterp * (1 - rampMix) + thetaExtrap * rampMix;
            mscale *= 1.0f + 0.1f * MathF.Log(1.0f / FreqScale);
        }
        cos = MathF.Cos(theta) * mscale;
        sin = MathF.Sin(theta) * mscale;
    }

    private static void CorrDims(int dims, int nCtxOrig, float freqBase, float betaFast, float betaSlow, out float lo, out float hi)
    {
        float start = MathF.Floor(CorrDim(dims, nCtxOrig, betaFast, freqBase));
        float end = MathF.Ceiling(CorrDim(dims, nCtxOrig, betaSlow, freqBase));
        lo = MathF.Max(0, start);
        hi = MathF.Min(dims - 1, end);
    }

    private static float CorrDim(int dims, int nCtxOrig, float nRot, float freqBase) =>
        dims * MathF.Log(nCtxOrig / (nRot * 2 * MathF.PI)) / (2 * MathF.Log(freqBase));
}
