using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Fathom.Tensors;

/// <summary>IEEE half conversions as ggml does them (round to nearest even), scalar and vector.</summary>
internal static class F16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    // Every half as float (256 KiB, like ggml's table on CPUs without F16C): a load instead of a
    // software conversion in the per-block scale products of the quantized kernels.
    private static readonly float[] s_table = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++)
            t[i] = ToFloat((ushort)i);
        return t;
    }

    /// <summary>The same value as <see cref="ToFloat(ushort)"/>, by table lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Lookup(ushort h) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s_table), (nint)h);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    /// <summary>Whether any of the halves is infinite or NaN (exponent 31).</summary>
    public static bool AnyNonFinite(ReadOnlySpan<ushort> h)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var e = Vector256.Create((ushort)0x7C00);
            for (; i + 16 <= h.Length; i += 16)
            {
                if (Vector256.EqualsAny(Vector256.Create(h.Slice(i, 16)) & e, e))
                    return true;
            }
        }
        for (; i < h.Length; i++)
        {
            if ((h[i] & 0x7C00) == 0x7C00)
                return true;
        }
        return false;
    }

    /// <summary>2^112: what the floats of <see cref="Widen16Raw"/> and <see cref="Widen16FiniteRaw"/> are short of.</summary>
    public const float RawUnit = 5.192296858534828e33f;

    /// <summary>16 halves known to be finite as floats, exact: <see cref="Widen16"/> without its inf/NaN step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16Finite(Vector256<short> h) => Widen16FiniteRaw(h) * Vector512.Create(RawUnit);

    /// <summary>
    /// 16 finite halves as floats <see cref="RawUnit"/> (2^112) too small, exact, in three operations: the half's bits
    /// shifted into a float's place, for normals and subnormals alike. A product with an operand that carries the 2^112
    /// (x·2^112 is exact for |x| below 2^15) equals the product with the half's value, bit for bit, so a dot product or
    /// an axpy can take the factor once on its other side instead of once per element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16FiniteRaw(Vector256<short> h) =>
        // Sign-extended, so after the shift bit 31 is the sign; the copies of it in bits 28–30 are cleared.
        ((Avx512F.ConvertToVector512Int32(h) << 13) & Vector512.Create(unchecked((int)0x8FFFFFFF))).AsSingle();

    /// <summary>
    /// 16 halves as floats, exact, in registers (AVX-512): the half's bits shifted into a float's place read as a value
    /// 2^112 too small, for normals and subnormals alike, so one multiply rebiases; exponent 31 is set to inf/NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16(Vector256<short> h)
    {
        var w = Avx512F.ConvertToVector512Int32(h);
        var bits = (w << 13) & Vector512.Create(unchecked((int)0x8FFFFFFF));
        var value = bits.AsSingle() * Vector512.Create(RawUnit);
        var special = Vector512.Equals(w & Vector512.Create(0x7C00), Vector512.Create(0x7C00));
        return Vector512.ConditionalSelect(special, bits | Vector512.Create(0x7F800000), value.AsInt32()).AsSingle();
    }

    /// <summary>
    /// <see cref="Widen16"/> without the rebias: finite halves <see cref="RawUnit"/> too small (as
    /// <see cref="Widen16FiniteRaw"/>), infinities and NaNs as themselves (a product with them is inf or NaN either way).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16Raw(Vector256<short> h)
    {
        var w = Avx512F.ConvertToVector512Int32(h);
        var bits = (w << 13) & Vector512.Create(unchecked((int)0x8FFFFFFF));
        var special = Vector512.Equals(w & Vector512.Create(0x7C00), Vector512.Create(0x7C00));
        return (bits | (special & Vector512.Create(0x7F800000))).AsSingle();
    }

    /// <summary>8 halves as floats <see cref="RawUnit"/> too small (AVX2): <see cref="Widen16FiniteRaw"/> on 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen8FiniteRaw(Vector128<short> h) =>
        ((Avx2.ConvertToVector256Int32(h) << 13) & Vector256.Create(unchecked((int)0x8FFFFFFF))).AsSingle();

    /// <summary>8 halves as floats <see cref="RawUnit"/> too small, infinities and NaNs as themselves (AVX2): <see cref="Widen16Raw"/> on 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen8Raw(Vector128<short> h)
    {
        var w = Avx2.ConvertToVector256Int32(h);
        var bits = (w << 13) & Vector256.Create(unchecked((int)0x8FFFFFFF));
        var special = Vector256.Equals(w & Vector256.Create(0x7C00), Vector256.Create(0x7C00));
        return (bits | (special & Vector256.Create(0x7F800000))).AsSingle();
    }

    /// <summary>8 halves as floats, exact (AVX2): <see cref="Widen8Raw"/> rebiased, infinities and NaNs kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen8(Vector128<short> h)
    {
        var w = Avx2.ConvertToVector256Int32(h);
        var bits = (w << 13) & Vector256.Create(unchecked((int)0x8FFFFFFF));
        var value = bits.AsSingle() * Vector256.Create(RawUnit);
        var special = Vector256.Equals(w & Vector256.Create(0x7C00), Vector256.Create(0x7C00));
        return Vector256.ConditionalSelect(special, bits | Vector256.Create(0x7F800000), value.AsInt32()).AsSingle();
    }

    /// <summary>
    /// n halves as floats, exact. With AVX-512, 16 halves that are all normal numbers (the usual case for
    /// activations and KV rows) take four operations: sign-extend, shift into place, clear the copies of the
    /// sign, rebias the exponent; a group with a zero, subnormal, infinity or NaN takes the general conversion.
    /// </summary>
    public static unsafe void ToFloatRow(ushort* src, int n, float* dst)
    {
        int i = 0;
        if (Avx512F.IsSupported)
        {
            for (; i + 16 <= n; i += 16)
            {
                var h = Vector256.Load((short*)(src + i));
                // Exponent 0 (zero, subnormal) or 31 (inf, NaN) lands below 0x0800 (0x8000 wraps negative).
                if (!Vector256.LessThanAny((h & Vector256.Create((short)0x7C00)) + Vector256.Create((short)0x0400), Vector256.Create((short)0x0800)))
                {
                    var w = Avx512F.ConvertToVector512Int32(h);
                    (((w << 13) & Vector512.Create(unchecked((int)0x8FFFFFFF))) + Vector512.Create(0x38000000)).AsSingle().Store(dst + i);
                }
                else
                {
                    ToFloat(Avx512F.ConvertToVector512UInt32(h.AsUInt16())).Store(dst + i);
                }
            }
        }
        else if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                var u = Vector256.Load(src + i);
                ToFloat(Vector512.Create(Vector256.WidenLower(u), Vector256.WidenUpper(u))).Store(dst + i);
            }
        }
        if (Avx2.IsSupported)
        {
            // The same normal-only shortcut, eight halves at a time (sign-extended to 32 bits by vpmovsxwd).
            for (; i + 8 <= n; i += 8)
            {
                var h = Vector128.Load((short*)(src + i));
                if (!Vector128.LessThanAny((h & Vector128.Create((short)0x7C00)) + Vector128.Create((short)0x0400), Vector128.Create((short)0x0800)))
                {
                    var w = Avx2.ConvertToVector256Int32(h);
                    (((w << 13) & Vector256.Create(unchecked((int)0x8FFFFFFF))) + Vector256.Create(0x38000000)).AsSingle().Store(dst + i);
                }
                else
                {
                    var (lo, hi) = Vector128.Widen(h.AsUInt16());
                    ToFloat(Vector256.Create(lo, hi)).Store(dst + i);
                }
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                var (lo, hi) = Vector128.Widen(Vector128.Load(src + i));
                ToFloat(Vector256.Create(lo, hi)).Store(dst + i);
            }
        }
        for (; i < n; i++)
            dst[i] = ToFloat(src[i]);
    }

    // Exact widening of halves held in 32-bit lanes: rebias the exponent for normals, convert
    // subnormals through int→float (no denormal float operands, which trap to microcode), Inf/NaN → 0xFF.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToFloat(Vector512<uint> h)
    {
        Vector512<uint> e = h & Vector512.Create(0x7C00u);
        Vector512<uint> abs = (h & Vector512.Create(0x7FFFu)) << 13;
        Vector512<uint> normal = abs + Vector512.Create(112u << 23);
        Vector512<uint> sub = (Vector512.ConvertToSingle((h & Vector512.Create(0x3FFu)).AsInt32()) * Vector512.Create(5.9604645e-8f)).AsUInt32();
        Vector512<uint> bits = Vector512.ConditionalSelect(Vector512.Equals(e, Vector512<uint>.Zero), sub,
            Vector512.ConditionalSelect(Vector512.Equals(e, Vector512.Create(0x7C00u)), abs | Vector512.Create(0x7F800000u), normal));
        return (bits | ((h & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    // Exact widening of halves held in 32-bit lanes: rebias the exponent for normals, convert
    // subnormals through int→float (no denormal float operands, which trap to microcode), Inf/NaN → 0xFF.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToFloat(Vector256<uint> h)
    {
        Vector256<uint> e = h & Vector256.Create(0x7C00u);
        Vector256<uint> abs = (h & Vector256.Create(0x7FFFu)) << 13;
        Vector256<uint> normal = abs + Vector256.Create(112u << 23);
        Vector256<uint> sub = (Vector256.ConvertToSingle((h & Vector256.Create(0x3FFu)).AsInt32()) * Vector256.Create(5.9604645e-8f)).AsUInt32();
        Vector256<uint> bits = Vector256.ConditionalSelect(Vector256.Equals(e, Vector256<uint>.Zero), sub,
            Vector256.ConditionalSelect(Vector256.Equals(e, Vector256.Create(0x7C00u)), abs | Vector256.Create(0x7F800000u), normal));
        return (bits | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    // Exact widening of halves held in 32-bit lanes: rebias the exponent for normals, convert
    // subnormals through int→float (no denormal float operands, which trap to microcode), Inf/NaN → 0xFF.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToFloat(Vector128<uint> h)
    {
        Vector128<uint> e = h & Vector128.Create(0x7C00u);
        Vector128<uint> abs = (h & Vector128.Create(0x7FFFu)) << 13;
        Vector128<uint> normal = abs + Vector128.Create(112u << 23);
        Vector128<uint> sub = (Vector128.ConvertToSingle((h & Vector128.Create(0x3FFu)).AsInt32()) * Vector128.Create(5.9604645e-8f)).AsUInt32();
        Vector128<uint> bits = Vector128.ConditionalSelect(Vector128.Equals(e, Vector128<uint>.Zero), sub,
            Vector128.ConditionalSelect(Vector128.Equals(e, Vector128.Create(0x7C00u)), abs | Vector128.Create(0x7F800000u), normal));
        return (bits | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>
    /// (float)(Half)x in every lane: round to nearest even at f16 precision, f16 subnormals on their
    /// 2^-24 grid, beyond 65504 to infinity, NaN quieted with its top ten payload bits (as the casts do).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> RoundToHalf(Vector512<float> x)
    {
        Vector512<uint> bits = x.AsUInt32();
        Vector512<uint> abs = bits & Vector512.Create(0x7FFFFFFFu);
        // Normal range: add half an f16 ulp minus one plus the kept lsb, then drop the 13 extra bits.
        Vector512<uint> normal = (abs + Vector512.Create(0xFFFu) + ((abs >> 13) & Vector512<uint>.One)) & Vector512.Create(0xFFFFE000u);
        normal = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(normal, Vector512.Create(0x47800000u)), Vector512.Create(0x7F800000u), normal);
        // Below 2^-14 the grid is 2^-24, the ulp of floats in [0.5, 1): adding 0.5 rounds there.
        Vector512<uint> sub = ((abs.AsSingle() + Vector512.Create(0.5f)) - Vector512.Create(0.5f)).AsUInt32();
        Vector512<uint> nan = (abs & Vector512.Create(0xFFFFE000u)) | Vector512.Create(0x00400000u);
        Vector512<uint> r = Vector512.ConditionalSelect(Vector512.LessThan(abs, Vector512.Create(0x38800000u)), sub,
            Vector512.ConditionalSelect(Vector512.GreaterThan(abs, Vector512.Create(0x7F800000u)), nan, normal));
        return (r | (bits & Vector512.Create(0x80000000u))).AsSingle();
    }

    /// <summary><see cref="RoundToHalf(Vector512{float})"/> on 8 lanes (machines without AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> RoundToHalf(Vector256<float> x)
    {
        Vector256<uint> bits = x.AsUInt32();
        Vector256<uint> abs = bits & Vector256.Create(0x7FFFFFFFu);
        Vector256<uint> normal = (abs + Vector256.Create(0xFFFu) + ((abs >> 13) & Vector256<uint>.One)) & Vector256.Create(0xFFFFE000u);
        normal = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(normal, Vector256.Create(0x47800000u)), Vector256.Create(0x7F800000u), normal);
        Vector256<uint> sub = ((abs.AsSingle() + Vector256.Create(0.5f)) - Vector256.Create(0.5f)).AsUInt32();
        Vector256<uint> nan = (abs & Vector256.Create(0xFFFFE000u)) | Vector256.Create(0x00400000u);
        Vector256<uint> r = Vector256.ConditionalSelect(Vector256.LessThan(abs, Vector256.Create(0x38800000u)), sub,
            Vector256.ConditionalSelect(Vector256.GreaterThan(abs, Vector256.Create(0x7F800000u)), nan, normal));
        return (r | (bits & Vector256.Create(0x80000000u))).AsSingle();
    }
}
