using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Fathom.Tensors;

/// <summary>IEEE half conversions as ggml does them (round to nearest even), scalar and vector.</summary>
internal static class F16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    // Exact widening: shift the exponent/mantissa into float position and rescale by 2^112
    // (handles subnormals exactly); Inf/NaN get the float all-ones exponent.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToFloat(Vector512<uint> h)
    {
        Vector512<uint> abs = (h & Vector512.Create(0x7FFFu)) << 13;
        Vector512<float> f = abs.AsSingle() * Vector512.Create(5.192296858534828e33f);
        Vector512<uint> infNan = Vector512.GreaterThanOrEqual(abs, Vector512.Create(0x7C00u << 13));
        Vector512<uint> bits = Vector512.ConditionalSelect(infNan, abs | Vector512.Create(0x7F800000u), f.AsUInt32());
        return (bits | ((h & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToFloat(Vector256<uint> h)
    {
        Vector256<uint> abs = (h & Vector256.Create(0x7FFFu)) << 13;
        Vector256<float> f = abs.AsSingle() * Vector256.Create(5.192296858534828e33f);
        Vector256<uint> infNan = Vector256.GreaterThanOrEqual(abs, Vector256.Create(0x7C00u << 13));
        Vector256<uint> bits = Vector256.ConditionalSelect(infNan, abs | Vector256.Create(0x7F800000u), f.AsUInt32());
        return (bits | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToFloat(Vector128<uint> h)
    {
        Vector128<uint> abs = (h & Vector128.Create(0x7FFFu)) << 13;
        Vector128<float> f = abs.AsSingle() * Vector128.Create(5.192296858534828e33f);
        Vector128<uint> infNan = Vector128.GreaterThanOrEqual(abs, Vector128.Create(0x7C00u << 13));
        Vector128<uint> bits = Vector128.ConditionalSelect(infNan, abs | Vector128.Create(0x7F800000u), f.AsUInt32());
        return (bits | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }
}
