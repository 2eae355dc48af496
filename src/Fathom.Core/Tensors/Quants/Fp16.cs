using System.Runtime.CompilerServices;

namespace Fathom.Tensors.Quants;

/// <summary>IEEE binary16 ⇄ float32 as ggml converts: round to nearest even, NaN becomes the quiet NaN 0x7E00 (sign kept).</summary>
public static class Fp16
{
    /// <summary>Exact f16 → f32 by moving bits: rebias the exponent, renormalize subnormals with one exact subtraction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits)
    {
        uint o = (uint)(bits & 0x7fff) << 13;
        uint exp = o & 0x0f800000;
        o += (127 - 15) << 23;
        if (exp == 0x0f800000)
        {
            o += (128 - 16) << 23; // Inf / NaN
        }
        else if (exp == 0)
        {
            o += 1 << 23; // zero / subnormal
            o = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(o) - BitConverter.UInt32BitsToSingle(113u << 23));
        }
        return BitConverter.UInt32BitsToSingle(o | ((uint)(bits & 0x8000) << 16));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        if (float.IsNaN(value))
            return (ushort)((BitConverter.SingleToUInt32Bits(value) >> 16 & 0x8000) | 0x7E00);
        return BitConverter.HalfToUInt16Bits((Half)value);
    }

    /// <summary>Converts a row of float32 to f16 bits.</summary>
    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException($"Destination holds {dst.Length} values; {src.Length} needed.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
            dst[i] = FromFloat(src[i]);
    }

    /// <summary>Converts a row of f16 bits to float32.</summary>
    public static void ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException($"Destination holds {dst.Length} values; {src.Length} needed.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
            dst[i] = ToFloat(src[i]);
    }
}

/// <summary>bfloat16 ⇄ float32 as ggml converts: round to nearest even, subnormals kept, NaN forced quiet.</summary>
public static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffff) > 0x7f800000)
            return (ushort)((u >> 16) | 64);
        return (ushort)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
    }
}
