using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Fathom.Tensors;

/// <summary>
/// Row-wise float32 kernels of the forward pass (norm, activations, softmax, add/mul/scale),
/// computed as ggml's CPU backend does. Outputs may alias inputs (in-place use is fine).
/// </summary>
public static class Elementwise
{
    /// <summary>
    /// RMS norm as ggml: Σx² in double (float products), scale = 1/sqrt(mean + eps), y = x·scale,
    /// then y·weight as a separate rounding (ggml's MUL after RMS_NORM). An empty weight skips the multiply.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        if (!weight.IsEmpty)
            CheckSameLength(x.Length, weight.Length, nameof(weight));
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += x[i] * x[i];
        float mean = (float)(sum / x.Length);
        float scale = 1.0f / MathF.Sqrt(mean + eps);
        Scale(x, scale, y);
        if (!weight.IsEmpty)
            Mul(y, weight, y);
    }

    /// <summary>y = a + b.</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        CheckSameLength(a.Length, b.Length, nameof(b));
        CheckSameLength(a.Length, y.Length, nameof(y));
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = a.Length, i = 0;
        if (Simd.Use512)
            for (; i + 16 <= n; i += 16)
                (Vector512.LoadUnsafe(ref pa, (nuint)i) + Vector512.LoadUnsafe(ref pb, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                (Vector256.LoadUnsafe(ref pa, (nuint)i) + Vector256.LoadUnsafe(ref pb, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= n; i += 4)
                (Vector128.LoadUnsafe(ref pa, (nuint)i) + Vector128.LoadUnsafe(ref pb, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref py, i) = Unsafe.Add(ref pa, i) + Unsafe.Add(ref pb, i);
    }

    /// <summary>y = a · b elementwise.</summary>
    public static void Mul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        CheckSameLength(a.Length, b.Length, nameof(b));
        CheckSameLength(a.Length, y.Length, nameof(y));
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = a.Length, i = 0;
        if (Simd.Use512)
            for (; i + 16 <= n; i += 16)
                (Vector512.LoadUnsafe(ref pa, (nuint)i) * Vector512.LoadUnsafe(ref pb, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                (Vector256.LoadUnsafe(ref pa, (nuint)i) * Vector256.LoadUnsafe(ref pb, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= n; i += 4)
                (Vector128.LoadUnsafe(ref pa, (nuint)i) * Vector128.LoadUnsafe(ref pb, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref py, i) = Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
    }

    /// <summary>y = x · s.</summary>
    public static void Scale(ReadOnlySpan<float> x, float s, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Simd.Use512)
            for (; i + 16 <= n; i += 16)
                (Vector512.LoadUnsafe(ref px, (nuint)i) * s).StoreUnsafe(ref py, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                (Vector256.LoadUnsafe(ref px, (nuint)i) * s).StoreUnsafe(ref py, (nuint)i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= n; i += 4)
                (Vector128.LoadUnsafe(ref px, (nuint)i) * s).StoreUnsafe(ref py, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref py, i) = Unsafe.Add(ref px, i) * s;
    }

    /// <summary>y = x / (1 + e^−x).</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Simd.Use512)
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref px, (nuint)i);
                (v / (Vector512<float>.One + Vector512.Exp(-v))).StoreUnsafe(ref py, (nuint)i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref px, (nuint)i);
                (v / (Vector256<float>.One + Vector256.Exp(-v))).StoreUnsafe(ref py, (nuint)i);
            }
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= n; i += 4)
            {
                var v = Vector128.LoadUnsafe(ref px, (nuint)i);
                (v / (Vector128<float>.One + Vector128.Exp(-v))).StoreUnsafe(ref py, (nuint)i);
            }
        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref px, i);
            Unsafe.Add(ref py, i) = v / (1.0f + MathF.Exp(-v));
        }
    }

    /// <summary>y = silu(gate) · up (ggml's SWIGLU).</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        CheckSameLength(gate.Length, up.Length, nameof(up));
        CheckSameLength(gate.Length, y.Length, nameof(y));
        Silu(gate, y);
        Mul(y, up, y);
    }

    /// <summary>GELU, tanh approximation (ggml's GELU): 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))).</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + MathF.Tanh(sqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
        }
    }

    /// <summary>
    /// Softmax with max subtraction: y = e^(x−max) / Σ, the sum in double as ggml; finite for any
    /// finite input, and −∞ entries (masked) give 0.
    /// </summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        if (x.IsEmpty)
            return;
        float max = float.NegativeInfinity;
        for (int i = 0; i < x.Length; i++)
            max = MathF.Max(max, x[i]);
        if (float.IsNegativeInfinity(max))
            throw new ArgumentException("Softmax of a row that is entirely -inf.", nameof(x));
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i0 = 0;
        if (Simd.Use512)
            for (; i0 + 16 <= n; i0 += 16)
                Vector512.Exp(Vector512.LoadUnsafe(ref px, (nuint)i0) - Vector512.Create(max)).StoreUnsafe(ref py, (nuint)i0);
        if (Vector256.IsHardwareAccelerated)
            for (; i0 + 8 <= n; i0 += 8)
                Vector256.Exp(Vector256.LoadUnsafe(ref px, (nuint)i0) - Vector256.Create(max)).StoreUnsafe(ref py, (nuint)i0);
        for (; i0 < n; i0++)
            Unsafe.Add(ref py, i0) = MathF.Exp(Unsafe.Add(ref px, i0) - max);
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += y[i];
        Scale(y, (float)(1.0 / sum), y);
    }

    internal static void CheckSameLength(int expected, int actual, string name)
    {
        if (expected != actual)
            throw new ArgumentException($"Length {actual} does not match the expected {expected}.", name);
    }
}
