using System.Runtime.CompilerServices;
using Fathom.Gguf;

namespace Fathom.Tensors.Quants;

/// <summary>
/// Converts GGUF tensor data of any supported <see cref="GgmlType"/> to float32, with the same arithmetic
/// (operation order included) as ggml's <c>dequantize_row_*</c>, so results are bit-identical to llama.cpp's.
/// </summary>
public static unsafe partial class Dequantize
{
    /// <summary>True when <see cref="Row"/> can convert <paramref name="type"/>.</summary>
    public static bool IsSupported(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
            or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
            or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K
            or GgmlType.IQ4_NL or GgmlType.IQ4_XS or GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ2_S
            or GgmlType.IQ3_XXS or GgmlType.IQ3_S or GgmlType.IQ1_S or GgmlType.IQ1_M
            or GgmlType.TQ1_0 or GgmlType.TQ2_0 or GgmlType.MXFP4 => true,
        _ => false,
    };

    /// <summary>
    /// Dequantizes <paramref name="dst"/>.Length elements (a whole number of blocks) from <paramref name="src"/>,
    /// which must hold at least their encoded size.
    /// </summary>
    public static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!IsSupported(type))
            throw new NotSupportedException($"Dequantizing {GgmlTypeInfo.Name(type)} is not supported.");
        int block = GgmlTypeInfo.BlockSize(type);
        if (dst.Length % block != 0)
            throw new ArgumentException($"{dst.Length} elements is not a whole number of {GgmlTypeInfo.Name(type)} blocks of {block}.", nameof(dst));
        long need = GgmlTypeInfo.RowSize(type, dst.Length);
        if (src.Length < need)
            throw new ArgumentException($"{GgmlTypeInfo.Name(type)} source holds {src.Length} bytes; {dst.Length} elements need {need}.", nameof(src));
        int nb = dst.Length / block;
        fixed (byte* s = src)
        fixed (float* d = dst)
            RowUnchecked(type, s, d, nb);
    }

    /// <summary>Dequantizes a whole tensor into <paramref name="dst"/> (at least <see cref="TensorView.ElementCount"/> long).</summary>
    public static void Tensor(TensorView view, Span<float> dst)
    {
        if (!IsSupported(view.Type))
            throw new NotSupportedException($"Tensor {view.Name}: dequantizing {GgmlTypeInfo.Name(view.Type)} is not supported.");
        long n = view.ElementCount;
        if (dst.Length < n)
            throw new ArgumentException($"Tensor {view.Name} has {n} elements; destination holds {dst.Length}.", nameof(dst));
        long cols = view.Columns;
        long rowBytes = view.RowBytes;
        if (view.ByteLength < rowBytes * view.Rows)
            throw new ArgumentException($"Tensor {view.Name} is {view.ByteLength} bytes; its shape needs {rowBytes * view.Rows}.", nameof(view));
        int nb = checked((int)(cols / GgmlTypeInfo.BlockSize(view.Type)));
        fixed (float* d = dst)
        {
            for (long r = 0; r < view.Rows; r++)
                RowUnchecked(view.Type, view.Data + r * rowBytes, d + r * cols, nb);
        }
    }

    /// <summary>Dequantizes a whole tensor into a new array.</summary>
    public static float[] Tensor(TensorView view)
    {
        var result = new float[checked((int)view.ElementCount)];
        Tensor(view, result);
        return result;
    }

    /// <summary>Dequantizes <paramref name="nb"/> blocks; no checks (callers validated sizes).</summary>
    internal static void RowUnchecked(GgmlType type, byte* src, float* dst, int nb)
    {
        switch (type)
        {
            case GgmlType.F32: new ReadOnlySpan<float>(src, nb).CopyTo(new Span<float>(dst, nb)); break;
            case GgmlType.F16: F16((ushort*)src, dst, nb); break;
            case GgmlType.BF16: BF16((ushort*)src, dst, nb); break;
            case GgmlType.Q4_0: Q4_0((BlockQ4_0*)src, dst, nb); break;
            case GgmlType.Q4_1: Q4_1((BlockQ4_1*)src, dst, nb); break;
            case GgmlType.Q5_0: Q5_0((BlockQ5_0*)src, dst, nb); break;
            case GgmlType.Q5_1: Q5_1((BlockQ5_1*)src, dst, nb); break;
            case GgmlType.Q8_0: Q8_0((BlockQ8_0*)src, dst, nb); break;
            case GgmlType.Q8_1: Q8_1((BlockQ8_1*)src, dst, nb); break;
            case GgmlType.Q2_K: Q2_K((BlockQ2_K*)src, dst, nb); break;
            case GgmlType.Q3_K: Q3_K((BlockQ3_K*)src, dst, nb); break;
            case GgmlType.Q4_K: Q4_K((BlockQ4_K*)src, dst, nb); break;
            case GgmlType.Q5_K: Q5_K((BlockQ5_K*)src, dst, nb); break;
            case GgmlType.Q6_K: Q6_K((BlockQ6_K*)src, dst, nb); break;
            case GgmlType.Q8_K: Q8_K((BlockQ8_K*)src, dst, nb); break;
            case GgmlType.IQ4_NL: IQ4_NL((BlockIQ4_NL*)src, dst, nb); break;
            case GgmlType.IQ4_XS: IQ4_XS((BlockIQ4_XS*)src, dst, nb); break;
            case GgmlType.IQ2_XXS: IQ2_XXS((BlockIQ2_XXS*)src, dst, nb); break;
            case GgmlType.IQ2_XS: IQ2_XS((BlockIQ2_XS*)src, dst, nb); break;
            case GgmlType.IQ2_S: IQ2_S((BlockIQ2_S*)src, dst, nb); break;
            case GgmlType.IQ3_XXS: IQ3_XXS((BlockIQ3_XXS*)src, dst, nb); break;
            case GgmlType.IQ3_S: IQ3_S((BlockIQ3_S*)src, dst, nb); break;
            case GgmlType.IQ1_S: IQ1_S((BlockIQ1_S*)src, dst, nb); break;
            case GgmlType.IQ1_M: IQ1_M((BlockIQ1_M*)src, dst, nb); break;
            case GgmlType.TQ1_0: TQ1_0((BlockTQ1_0*)src, dst, nb); break;
            case GgmlType.TQ2_0: TQ2_0((BlockTQ2_0*)src, dst, nb); break;
            case GgmlType.MXFP4: MXFP4((BlockMXFP4*)src, dst, nb); break;
            default: throw new NotSupportedException($"Dequantizing {GgmlTypeInfo.Name(type)} is not supported.");
        }
    }

    /// <summary>The 16 values of IQ4_NL / IQ4_XS quants.</summary>
    internal static ReadOnlySpan<sbyte> IQ4Values => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    private static void F16(ushort* x, float* y, int n)
    {
        for (int i = 0; i < n; i++)
            y[i] = Fp16.ToFloat(x[i]);
    }

    private static void BF16(ushort* x, float* y, int n)
    {
        for (int i = 0; i < n; i++)
            y[i] = Bf16.ToFloat(x[i]);
    }

    private static void Q4_0(BlockQ4_0* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D);
            for (int j = 0; j < 16; j++)
            {
                y[j] = ((x->Qs[j] & 0x0F) - 8) * d;
                y[j + 16] = ((x->Qs[j] >> 4) - 8) * d;
            }
        }
    }

    private static void Q4_1(BlockQ4_1* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D), m = Fp16.ToFloat(x->M);
            for (int j = 0; j < 16; j++)
            {
                y[j] = (x->Qs[j] & 0x0F) * d + m;
                y[j + 16] = (x->Qs[j] >> 4) * d + m;
            }
        }
    }

    private static void Q5_0(BlockQ5_0* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D);
            uint qh = Unsafe.ReadUnaligned<uint>(x->Qh);
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((x->Qs[j] & 0x0F) | h0) - 16) * d;
                y[j + 16] = (((x->Qs[j] >> 4) | h1) - 16) * d;
            }
        }
    }

    private static void Q5_1(BlockQ5_1* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D), m = Fp16.ToFloat(x->M);
            uint qh = Unsafe.ReadUnaligned<uint>(x->Qh);
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((x->Qs[j] & 0x0F) | h0) * d + m;
                y[j + 16] = ((x->Qs[j] >> 4) | h1) * d + m;
            }
        }
    }

    private static void Q8_0(BlockQ8_0* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D);
            for (int j = 0; j < 32; j++)
                y[j] = x->Qs[j] * d;
        }
    }

    private static void Q8_1(BlockQ8_1* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D);
            for (int j = 0; j < 32; j++)
                y[j] = x->Qs[j] * d;
        }
    }

    private static void Q2_K(BlockQ2_K* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D), min = Fp16.ToFloat(x->DMin);
            byte* q = x->Qs;
            int s = 0;
            for (int n = 0; n < 256; n += 128, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2)
                {
                    for (int half = 0; half < 32; half += 16)
                    {
                        byte sc = x->Scales[s++];
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int l = 0; l < 16; l++)
                            *y++ = dl * ((q[l + half] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    /// <summary>Unpacks Q3_K's sixteen 6-bit scales (stored biased by 32) from 12 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Q3Scale(byte* scales, int j)
    {
        int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
        int high = (scales[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        return (low | (high << 4)) - 32;
    }

    private static void Q3_K(BlockQ3_K* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            float dAll = Fp16.ToFloat(x->D);
            byte* q = x->Qs;
            byte* hm = x->HMask;
            int bit = 0;
            int s = 0;
            for (int n = 0; n < 256; n += 128, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2, bit++)
                {
                    for (int half = 0; half < 32; half += 16)
                    {
                        float dl = dAll * Q3Scale(x->Scales, s++);
                        for (int l = 0; l < 16; l++)
                            *y++ = dl * (((q[l + half] >> shift) & 3) - ((((hm[l + half] >> bit) & 1) ^ 1) << 2));
                    }
                }
            }
        }
    }

    /// <summary>The j-th (0..7) 6-bit scale and min of a Q4_K/Q5_K block, unpacked from its 12 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ScaleMinK4(int j, byte* q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    private static void Q4_K(BlockQ4_K* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D), min = Fp16.ToFloat(x->DMin);
            byte* q = x->Qs;
            for (int j = 0; j < 8; j += 2, q += 32)
            {
                ScaleMinK4(j, x->Scales, out int sc, out int m);
                float d1 = d * sc, m1 = min * m;
                ScaleMinK4(j + 1, x->Scales, out sc, out m);
                float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; l++)
                    *y++ = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++)
                    *y++ = d2 * (q[l] >> 4) - m2;
            }
        }
    }

    private static void Q5_K(BlockQ5_K* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D), min = Fp16.ToFloat(x->DMin);
            byte* ql = x->Qs;
            byte* qh = x->Qh;
            for (int j = 0; j < 8; j += 2, ql += 32)
            {
                ScaleMinK4(j, x->Scales, out int sc, out int m);
                float d1 = d * sc, m1 = min * m;
                ScaleMinK4(j + 1, x->Scales, out sc, out m);
                float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; l++)
                    *y++ = d1 * ((ql[l] & 0xF) + (((qh[l] >> j) & 1) << 4)) - m1;
                for (int l = 0; l < 32; l++)
                    *y++ = d2 * ((ql[l] >> 4) + (((qh[l] >> (j + 1)) & 1) << 4)) - m2;
            }
        }
    }

    private static void Q6_K(BlockQ6_K* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* ql = x->Ql;
            byte* qh = x->Qh;
            sbyte* sc = x->Scales;
            for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
            {
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[s] * q1;
                    y[l + 32] = d * sc[s + 2] * q2;
                    y[l + 64] = d * sc[s + 4] * q3;
                    y[l + 96] = d * sc[s + 6] * q4;
                }
            }
        }
    }

    private static void Q8_K(BlockQ8_K* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            for (int j = 0; j < 256; j++)
                *y++ = x->D * x->Qs[j];
        }
    }

    private static void IQ4_NL(BlockIQ4_NL* x, float* y, int nb)
    {
        ReadOnlySpan<sbyte> kv = IQ4Values;
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            float d = Fp16.ToFloat(x->D);
            for (int j = 0; j < 16; j++)
            {
                y[j] = d * kv[x->Qs[j] & 0xF];
                y[j + 16] = d * kv[x->Qs[j] >> 4];
            }
        }
    }

    private static void IQ4_XS(BlockIQ4_XS* x, float* y, int nb)
    {
        ReadOnlySpan<sbyte> kv = IQ4Values;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* qs = x->Qs;
            for (int ib = 0; ib < 8; ib++, y += 32, qs += 16)
            {
                int ls = ((x->ScalesL[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x->ScalesH >> (2 * ib)) & 3) << 4);
                float dl = d * (ls - 32);
                for (int j = 0; j < 16; j++)
                {
                    y[j] = dl * kv[qs[j] & 0xF];
                    y[j + 16] = dl * kv[qs[j] >> 4];
                }
            }
        }
    }
}
