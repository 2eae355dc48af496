using System.Runtime.Intrinsics;
using Fathom.Gguf;
using Fathom.Tensors;
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

    /// <summary>
    /// Decodes <paramref name="rows"/> rows of <paramref name="width"/> elements, <paramref name="stride"/> bytes apart
    /// from <paramref name="src"/>, into consecutive float rows at <paramref name="dst"/>: the same values as
    /// <see cref="Decode"/>, vectorized (attention widens a page of one KV head at a time).
    /// </summary>
    internal static unsafe void DecodeRows(KvType type, byte* src, int stride, int rows, int width, float* dst)
    {
        for (int r = 0; r < rows; r++, src += stride, dst += width)
        {
            switch (type)
            {
                case KvType.F32:
                    Buffer.MemoryCopy(src, dst, width * 4L, width * 4L);
                    break;
                case KvType.F16:
                    F16Row((ushort*)src, dst, width);
                    break;
                case KvType.Q8_0:
                    Q8Row(src, dst, width / 32);
                    break;
                default:
                    Q4Row(src, dst, width / 32);
                    break;
            }
        }
    }

    private static unsafe void F16Row(ushort* x, float* y, int n) => F16.ToFloatRow(x, n, y);

    // Q8_0 blocks: f16 scale then 32 signed bytes; value = q·d (exact in float, as the scalar dequantizer).
    private static unsafe void Q8Row(byte* x, float* y, int blocks)
    {
        for (int b = 0; b < blocks; b++, x += 34, y += 32)
        {
            float d = Fp16.ToFloat(*(ushort*)x);
            sbyte* q = (sbyte*)(x + 2);
            if (Vector256.IsHardwareAccelerated)
            {
                var vd = Vector256.Create(d);
                var (w0, w1) = Vector256.Widen(Vector256.Load(q));
                var (a0, a1) = Vector256.Widen(w0);
                var (a2, a3) = Vector256.Widen(w1);
                (Vector256.ConvertToSingle(a0) * vd).Store(y);
                (Vector256.ConvertToSingle(a1) * vd).Store(y + 8);
                (Vector256.ConvertToSingle(a2) * vd).Store(y + 16);
                (Vector256.ConvertToSingle(a3) * vd).Store(y + 24);
            }
            else
            {
                for (int j = 0; j < 32; j++)
                    y[j] = q[j] * d;
            }
        }
    }

    // Q4_0 blocks: f16 scale then 16 bytes; element j is (low nibble of byte j) − 8, element j+16 the high nibble − 8.
    private static unsafe void Q4Row(byte* x, float* y, int blocks)
    {
        for (int b = 0; b < blocks; b++, x += 18, y += 32)
        {
            float d = Fp16.ToFloat(*(ushort*)x);
            byte* q = x + 2;
            if (Vector256.IsHardwareAccelerated)
            {
                var vd = Vector256.Create(d);
                var eight = Vector256.Create(8);
                var bytes = Vector128.Load(q);
                var nibbles = Vector256.Create(bytes & Vector128.Create((byte)0x0F), Vector128.ShiftRightLogical(bytes, 4));
                var (w0, w1) = Vector256.Widen(nibbles);
                var (a0, a1) = Vector256.Widen(w0);
                var (a2, a3) = Vector256.Widen(w1);
                (Vector256.ConvertToSingle(a0.AsInt32() - eight) * vd).Store(y);
                (Vector256.ConvertToSingle(a1.AsInt32() - eight) * vd).Store(y + 8);
                (Vector256.ConvertToSingle(a2.AsInt32() - eight) * vd).Store(y + 16);
                (Vector256.ConvertToSingle(a3.AsInt32() - eight) * vd).Store(y + 24);
            }
            else
            {
                for (int j = 0; j < 16; j++)
                {
                    y[j] = ((q[j] & 0x0F) - 8) * d;
                    y[j + 16] = ((q[j] >> 4) - 8) * d;
                }
            }
        }
    }
}
