using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Fathom.Models;

/// <summary>
/// ggml's CPU arithmetic where its rounding differs from the textbook one, mirrored bit for bit (the
/// goldens' llama.cpp build is AVX-512): the polynomial <c>ggml_v_expf</c> used in 16-lane groups by
/// softmax and SwiGLU, the 16-lane horizontal sum (<c>_mm512_reduce_add_ps</c>) and f16 dot products
/// accumulated lane-wise by FMA as llamafile's tinyBLAS does.
/// </summary>
internal static class GgmlMath
{
    public const int Lanes = 16;

    private static readonly float Log2E = BitConverter.Int32BitsToSingle(0x3FB8AA3B);
    private static readonly float Ln2Hi = BitConverter.Int32BitsToSingle(0x3F317200);
    private static readonly float Ln2Lo = BitConverter.Int32BitsToSingle(0x35BFBE8E);
    private static readonly float C0 = BitConverter.Int32BitsToSingle(0x3F7FFFF6);
    private static readonly float C1 = BitConverter.Int32BitsToSingle(0x3EFFFEDB);
    private static readonly float C2 = BitConverter.Int32BitsToSingle(0x3E2AAF33);
    private static readonly float C3 = BitConverter.Int32BitsToSingle(0x3D2B9F17);
    private static readonly float C4 = BitConverter.Int32BitsToSingle(0x3C072010);
    private const float Shift = 12582912f; // 0x1.8p23: adding it rounds to an integer

    /// <summary>One lane of ggml_v_expf (AVX-512 variant): exp(x) to about 1.5 ulp.</summary>
    public static float Exp(float x)
    {
        float z = MathF.FusedMultiplyAdd(x, Log2E, Shift);
        float n = z - Shift;
        float b = MathF.FusedMultiplyAdd(-n, Ln2Lo, MathF.FusedMultiplyAdd(-n, Ln2Hi, x));
        if (MathF.Abs(n) > 192)
            return n <= 0 ? 0f : float.PositiveInfinity;
        float u = b * b;
        float j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C4, b, C3), u, MathF.FusedMultiplyAdd(C2, b, C1)),
            u, MathF.FusedMultiplyAdd(C0, b, 1f));
        return MathF.ScaleB(j, (int)n);
    }

    /// <summary>16 lanes of <see cref="Exp(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var n = Rounded(x);
        if (Vector512.GreaterThanAny(Vector512.Abs(n), Vector512.Create(126f)))
            return ExpByLane(x);
        return Reduced(x, n) * Pow2(n);
    }

    /// <summary>
    /// <see cref="Exp(Vector512{float})"/> of lanes in [−87, 87] (or NaN), bit for bit, without the lane-by-lane
    /// fallback that such lanes never take: its call, in a loop, makes the JIT keep the loop's vectors on the stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpInRange(Vector512<float> x)
    {
        var n = Rounded(x);
        return Reduced(x, n) * Pow2(n);
    }

    // n = x·log2(e) rounded to an integer; exp(x) = 2^n · exp(x − n·ln 2).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Rounded(Vector512<float> x)
    {
        var shift = Vector512.Create(Shift);
        return Vector512.FusedMultiplyAdd(x, Vector512.Create(Log2E), shift) - shift;
    }

    // exp(x − n·ln 2) by ggml's polynomial.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Reduced(Vector512<float> x, Vector512<float> n)
    {
        var b = Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Lo), Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Hi), x));
        var u = b * b;
        return Vector512.FusedMultiplyAdd(
            Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(C4), b, Vector512.Create(C3)), u,
                Vector512.FusedMultiplyAdd(Vector512.Create(C2), b, Vector512.Create(C1))),
            u, Vector512.FusedMultiplyAdd(Vector512.Create(C0), b, Vector512<float>.One));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pow2(Vector512<float> n) => ((Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23).AsSingle();

    /// <summary>8 lanes of <see cref="Exp(float)"/> (the same steps as the 16-lane form, for machines without AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var n = Rounded(x);
        if (Vector256.GreaterThanAny(Vector256.Abs(n), Vector256.Create(126f)))
            return ExpByLane(x);
        return Reduced(x, n) * Pow2(n);
    }

    /// <summary>8 lanes of <see cref="ExpInRange(Vector512{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpInRange(Vector256<float> x)
    {
        var n = Rounded(x);
        return Reduced(x, n) * Pow2(n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Rounded(Vector256<float> x)
    {
        var shift = Vector256.Create(Shift);
        return Vector256.FusedMultiplyAdd(x, Vector256.Create(Log2E), shift) - shift;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduced(Vector256<float> x, Vector256<float> n)
    {
        var b = Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Lo), Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Hi), x));
        var u = b * b;
        return Vector256.FusedMultiplyAdd(
            Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create(C4), b, Vector256.Create(C3)), u,
                Vector256.FusedMultiplyAdd(Vector256.Create(C2), b, Vector256.Create(C1))),
            u, Vector256.FusedMultiplyAdd(Vector256.Create(C0), b, Vector256<float>.One));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pow2(Vector256<float> n) => ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();

    // Outside 2^±126 the power of two is not a normal float: lane by lane. (Out of line, so the vector Exp, which
    // would not be inlined with a stackalloc in it, is.)
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector512<float> ExpByLane(Vector512<float> x)
    {
        Span<float> r = stackalloc float[Lanes];
        for (int i = 0; i < Lanes; i++)
            r[i] = Exp(x[i]);
        return Vector512.Create((ReadOnlySpan<float>)r);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector256<float> ExpByLane(Vector256<float> x)
    {
        Span<float> r = stackalloc float[8];
        for (int i = 0; i < 8; i++)
            r[i] = Exp(x[i]);
        return Vector256.Create((ReadOnlySpan<float>)r);
    }

    /// <summary>The horizontal sum of 16 lanes in _mm512_reduce_add_ps's order (halves, then quarters, then pairs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Sum(v.GetLower(), v.GetUpper());

    /// <summary><see cref="Sum(Vector512{float})"/> of the 16 lanes held as two 8-lane halves (machines without AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> lo, Vector256<float> hi)
    {
        var t = lo + hi;
        var q = t.GetLower() + t.GetUpper();
        return (q[0] + q[2]) + (q[1] + q[3]);
    }

    /// <summary>y = silu(gate) · up as ggml_vec_swiglu_f32: 16-lane groups with ggml_v_expf, the tail with expf.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        int i = 0;
        if (!Vector512.IsHardwareAccelerated)
        {
            // Each 16-lane group as two 8-lane halves: the same steps per lane (a Vector512 that is not accelerated
            // would run them element by element).
            for (int end = gate.Length / Lanes * Lanes; i < end; i += 8)
            {
                var x = Vector256.Create((ReadOnlySpan<float>)gate.Slice(i, 8));
                var silu = x / (Vector256<float>.One + Exp(Vector256<float>.Zero - x));
                (silu * Vector256.Create(up.Slice(i, 8))).CopyTo(gate.Slice(i, 8));
            }
        }
        for (; i + Lanes <= gate.Length; i += Lanes)
        {
            var x = Vector512.Create((ReadOnlySpan<float>)gate.Slice(i, Lanes));
            var silu = x / (Vector512<float>.One + Exp(Vector512<float>.Zero - x));
            (silu * Vector512.Create(up.Slice(i, Lanes))).CopyTo(gate.Slice(i, Lanes));
        }
        for (; i < gate.Length; i++)
            gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>
    /// In-place softmax as ggml_soft_max over a row that llama.cpp pads to whole 16-lane groups with
    /// masked (zero-probability) entries: exps with ggml_v_expf, each group summed in float, groups in double.
    /// </summary>
    public static void SoftmaxPadded(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x)
            max = MathF.Max(max, v);
        double sum = 0;
        Span<float> group = stackalloc float[Lanes];
        var vmax = Vector512.Create(max);
        for (int i = 0; i < x.Length; i += Lanes)
        {
            int count = Math.Min(Lanes, x.Length - i);
            group.Fill(float.NegativeInfinity);
            x.Slice(i, count).CopyTo(group);
            var e = Exp(Vector512.Create((ReadOnlySpan<float>)group) - vmax);
            sum += Sum(e);
            for (int k = 0; k < count; k++)
                x[i + k] = e[k];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < x.Length; i++)
            x[i] *= inv;
    }

    /// <summary>
    /// In-place softmax as ggml_vec_soft_max_f32 on a row of exactly x.Length entries (no padding):
    /// whole 16-lane groups with ggml_v_expf, the tail with expf and a per-element double sum.
    /// </summary>
    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x)
            max = MathF.Max(max, v);
        double sum = 0;
        int i = 0;
        for (; i + Lanes <= x.Length; i += Lanes)
        {
            var e = Exp(Vector512.Create((ReadOnlySpan<float>)x.Slice(i, Lanes)) - Vector512.Create(max));
            e.CopyTo(x.Slice(i, Lanes));
            sum += Sum(e);
        }
        for (; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (i = 0; i < x.Length; i++)
            x[i] *= inv;
    }
}
