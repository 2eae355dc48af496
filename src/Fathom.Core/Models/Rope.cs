namespace Fathom.Models;

/// <summary>
/// Rotary position embedding as ggml_rope_ext computes it: angles in float32 as pos·s^i by repeated
/// multiplication (s = base^(-2/n_rot)), divided by rope_freqs when present, with linear and YaRN scaling.
/// </summary>
internal sealed class Rope
{
    private readonly int _nRot;
    private readonly RopeStyle _style;
    private readonly float _thetaScale;
    private readonly float _freqScale;
    private readonly float _extFactor;
    private readonly float _attnFactor;
    private readonly float _corrLow;
    private readonly float _corrHigh;
    private readonly float[]? _freqFactors;
    private float[] _cos = [];
    private float[] _sin = [];

    public Rope(ModelConfig c, ReadOnlySpan<float> freqFactors)
    {
        _nRot = c.RopeDimensionCount;
        _style = c.RopeStyle;
        _thetaScale = MathF.Pow(c.RopeFreqBase, -2f / _nRot);
        _freqScale = c.RopeFreqScale;
        _extFactor = c.YarnExtFactor;
        _attnFactor = c.YarnAttnFactor;
        _freqFactors = freqFactors.IsEmpty ? null : freqFactors.ToArray();
        float low = MathF.Floor(CorrDim(_nRot, c.RopeOriginalContextLength, c.YarnBetaFast, c.RopeFreqBase));
        float high = MathF.Ceiling(CorrDim(_nRot, c.RopeOriginalContextLength, c.YarnBetaSlow, c.RopeFreqBase));
        _corrLow = MathF.Max(0, low);
        _corrHigh = MathF.Min(_nRot - 1, high);
    }

    private static float CorrDim(int nDims, int nCtxOrig, float nRot, float @base) =>
        nDims * MathF.Log(nCtxOrig / (nRot * 2 * MathF.PI)) / (2 * MathF.Log(@base));

    /// <summary>Fills the cos/sin tables for positions firstPosition … firstPosition + tokens - 1.</summary>
    public void Prepare(int firstPosition, int tokens)
    {
        int half = _nRot / 2;
        if (_cos.Length < tokens * half)
        {
            _cos = new float[tokens * half];
            _sin = new float[tokens * half];
        }
        for (int t = 0; t < tokens; t++)
        {
            float theta = firstPosition + t;
            for (int i = 0; i < half; i++)
            {
                float ff = _freqFactors is null ? 1f : _freqFactors[i];
                Angle(theta / ff, 2 * i, out _cos[t * half + i], out _sin[t * half + i]);
                theta *= _thetaScale;
            }
        }
    }

    private void Angle(float thetaExtrap, int i0, out float cos, out float sin)
    {
        float thetaInterp = _freqScale * thetaExtrap;
        float theta = thetaInterp;
        float mscale = _attnFactor;
        if (_extFactor != 0f)
        {
            float y = (i0 / 2 - _corrLow) / MathF.Max(0.001f, _corrHigh - _corrLow);
            float rampMix = (1 - MathF.Min(1, MathF.Max(0, y))) * _extFactor;
            theta = thetaInterp * (1 - rampMix) + thetaExtrap * rampMix;
            mscale *= 1f + 0.1f * MathF.Log(1f / _freqScale);
        }
        cos = MathF.Cos(theta) * mscale;
        sin = MathF.Sin(theta) * mscale;
    }

    /// <summary>Rotates x [tokens, heads·headDim] in place with the tables of the last <see cref="Prepare"/>.</summary>
    public void Apply(Span<float> x, int tokens, int heads, int headDim)
    {
        int half = _nRot / 2;
        for (int t = 0; t < tokens; t++)
        {
            var cos = _cos.AsSpan(t * half, half);
            var sin = _sin.AsSpan(t * half, half);
            for (int h = 0; h < heads; h++)
            {
                var v = x.Slice((t * heads + h) * headDim, headDim);
                int stride = _style == RopeStyle.NeoX ? half : 1;
                for (int i = 0; i < half; i++)
                {
                    int a = _style == RopeStyle.NeoX ? i : 2 * i;
                    float x0 = v[a], x1 = v[a + stride];
                    v[a] = x0 * cos[i] - x1 * sin[i];
                    v[a + stride] = x0 * sin[i] + x1 * cos[i];
                }
            }
        }
    }
}
