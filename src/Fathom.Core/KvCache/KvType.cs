using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.KvCache;

/// <summary>Element type of cached keys or values.</summary>
public enum KvType
{
    F32,
    F16,
    Q8_0,
    Q4_0,
}

/// <summary>Sizes, names and row conversion of <see cref="KvType"/>.</summary>
public static class KvTypes
{
    /// <summary>Parses f32, f16, q8_0, q4_0 (case-insensitive); anything else is a typed error.</summary>
    public static KvType Parse(string name) => name.ToLowerInvariant() switch
    {
        "f32" => KvType.F32,
        "f16" => KvType.F16,
        "q8_0" => KvType.Q8_0,
        "q4_0" => KvType.Q4_0,
        _ => throw new ArgumentException($"unknown KV cache type '{name}' (expected f32, f16, q8_0 or q4_0)", nameof(name)),
    };

    public static string Name(KvType type) => type switch
    {
        KvType.F32 => "f32",
        KvType.F16 => "f16",
        KvType.Q8_0 => "q8_0",
        _ => "q4_0",
    };

    /// <summary>Elements per quantization block (1 for float types).</summary>
    public static int BlockSize(KvType type) => type is KvType.Q8_0 or KvType.Q4_0 ? 32 : 1;

    /// <summary>Bytes of a row of <paramref name="width"/> elements, block scales included.</summary>
    public static int RowBytes(KvType type, int width) => type switch
    {
        KvType.F32 => width * 4,
        KvType.F16 => width * 2,
        KvType.Q8_0 => width / 32 * 34,
        _ => width / 32 * 18,
    };

    /// <summary>Bytes per element including block overhead (f16: 2, q8_0: 34/32, q4_0: 18/32).</summary>
    public static double BytesPerElement(KvType type) => type switch
    {
        KvType.F32 => 4,
        KvType.F16 => 2,
        KvType.Q8_0 => 34.0 / 32,
        _ => 18.0 / 32,
    };

    /// <summary>Throws unless a head of <paramref name="headDim"/> elements is a whole number of blocks (so heads dequantize alone).</summary>
    public static void Validate(KvType type, int headDim, string what)
    {
        if (headDim % BlockSize(type) != 0)
            throw new ArgumentException($"{what} cache type {Name(type)} needs a head size that is a multiple of {BlockSize(type)}; this model's is {headDim}");
    }

    internal static GgmlType Ggml(KvType type) => type switch
    {
        KvType.F32 => GgmlType.F32,
        KvType.F16 => GgmlType.F16,
        KvType.Q8_0 => GgmlType.Q8_0,
        _ => GgmlType.Q4_0,
    };

    /// <summary>Encodes a float row into <paramref name="dst"/> (f16 rounds to nearest even as ggml does).</summary>
    internal static void Encode(KvType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (type)
        {
            case KvType.F32:
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case KvType.F16:
                var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(dst);
                for (int i = 0; i < src.Length; i++)
                    h[i] = (Half)src[i];
                break;
            default:
                Quantize.Row(Ggml(type), src, dst);
                break;
        }
    }

    /// <summary>Decodes dst.Length elements starting at the beginning of <paramref name="src"/>.</summary>
    internal static void Decode(KvType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case KvType.F32:
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);
                break;
            case KvType.F16:
                var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(src)[..dst.Length];
                Fp16.ToFloat(h, dst);
                break;
            default:
                Dequantize.Row(Ggml(type), src, dst);
                break;
        }
    }
}
