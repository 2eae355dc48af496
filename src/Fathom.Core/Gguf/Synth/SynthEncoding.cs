using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Fathom.Gguf.Synth;

/// <summary>
/// Turns generated F32 rows into a tensor element type. F32 and F16 here; quantized types plug in
/// beside them (a chunk handed to <see cref="Encode"/> is always whole rows).
/// </summary>
public static class SynthEncoding
{
    /// <summary>True when <see cref="Encode"/> can produce <paramref name="type"/>.</summary>
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16;

    /// <summary>Encodes <paramref name="source"/> (whole rows) into <paramref name="destination"/>, which must be exactly the encoded size.</summary>
    public static void Encode(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case GgmlType.F16:
                ToHalf(source, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            default:
                throw new NotSupportedException($"Synthesizing {type} tensors is not supported yet.");
        }
    }

    /// <summary>F32 → F16 bits, rounding to nearest even; bit-identical to <c>(Half)x</c> except for NaN payloads.</summary>
    public static void ToHalf(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float s = ref MemoryMarshal.GetReference(source);
            ref ushort d = ref MemoryMarshal.GetReference(destination);
            for (; i + 16 <= source.Length; i += 16)
            {
                var lo = HalfBits(Vector256.LoadUnsafe(ref s, (nuint)i).AsUInt32());
                var hi = HalfBits(Vector256.LoadUnsafe(ref s, (nuint)i + 8).AsUInt32());
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < source.Length; i++)
            destination[i] = BitConverter.HalfToUInt16Bits((Half)source[i]);
    }

    // Branch-free float-to-half with round-to-nearest-even (after F. Giesen's float_to_half_fast3_rtne).
    private static Vector256<uint> HalfBits(Vector256<uint> f)
    {
        const uint F32Infinity = 255u << 23;
        const uint F16Limit = (127u + 16) << 23; // 65536.0f: at or above it only inf/NaN remain
        const uint DenormMagic = ((127u - 15) + (23 - 10) + 1) << 23;
        const uint SmallestNormal = 113u << 23; // 2^-14
        var sign = f & Vector256.Create(0x80000000u);
        f ^= sign;
        var infOrNan = Vector256.ConditionalSelect(Vector256.GreaterThan(f, Vector256.Create(F32Infinity)), Vector256.Create(0x7E00u), Vector256.Create(0x7C00u));
        var magic = Vector256.Create(DenormMagic);
        var subnormal = (f.AsSingle() + magic.AsSingle()).AsUInt32() - magic;
        var odd = (f >> 13) & Vector256<uint>.One;
        var normal = (f + Vector256.Create(unchecked((uint)((15 - 127) << 23) + 0xFFFu)) + odd) >> 13;
        var bits = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(f, Vector256.Create(F16Limit)), infOrNan,
            Vector256.ConditionalSelect(Vector256.LessThan(f, Vector256.Create(SmallestNormal)), subnormal, normal));
        return bits | (sign >> 16);
    }

    /// <summary>The general.file_type llama.cpp writes for a model whose matrices are all <paramref name="type"/>.</summary>
    public static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q4_1 => 3,
        GgmlType.Q8_0 => 7,
        GgmlType.Q5_0 => 8,
        GgmlType.Q5_1 => 9,
        GgmlType.BF16 => 32,
        _ => throw new NotSupportedException($"No general.file_type known for {type}."),
    };
}
