namespace Fathom.Models;

/// <summary>
/// Row-wise float32 operations with ggml's rounding (RMS norm sums in double, softmax sums in double).
/// A stop-gap until the shared kernels in Tensors/ land; each mirrors the ggml CPU op of the same name.
/// </summary>
internal static class Ops
{
    /// <summary>y = x / sqrt(mean(x²) + eps) · w, rounding as ggml_rms_norm followed by ggml_mul.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += x[i] * x[i];
        float mean = (float)(sum / x.Length);
        float scale = 1f / MathF.Sqrt(mean + eps);
        for (int i = 0; i < x.Length; i++)
            y[i] = x[i] * scale * w[i];
    }

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    /// <summary>gate = silu(gate) · up, element-wise.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
            gate[i] = Silu(gate[i]) * up[i];
    }

    /// <summary>In-place softmax with a float32 max, float32 exps and a double sum, as ggml_soft_max.</summary>
    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x)
            max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < x.Length; i++)
            x[i] *= inv;
    }

    public static void Add(Span<float> y, ReadOnlySpan<float> x)
    {
        for (int i = 0; i < y.Length; i++)
            y[i] += x[i];
    }
}
