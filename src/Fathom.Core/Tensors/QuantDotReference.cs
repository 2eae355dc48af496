using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// Plain scalar dot products of quantized weight rows with 8-bit quantized activations, following
/// ggml's ggml_vec_dot_*_generic: integer sums per block, then the float scale products in ggml's
/// order. The SIMD kernels in <see cref="QuantDot"/> must agree with these (exactly in the integer
/// sums; within float summation order in the result). Arguments: weight row, activation row, elements.
/// </summary>
internal static unsafe class QuantDotReference
{
    public static float Q4_0(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ4_0*)vx;
        var y = (BlockQ8_0*)vy;
        float sumf = 0;
        for (int ib = 0; ib < n / 32; ib++)
        {
            int sumi0 = 0, sumi1 = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi0 += ((x[ib].Qs[j] & 0x0F) - 8) * y[ib].Qs[j];
                sumi1 += ((x[ib].Qs[j] >> 4) - 8) * y[ib].Qs[j + 16];
            }
            sumf += (sumi0 + sumi1) * Fp16.ToFloat(x[ib].D) * Fp16.ToFloat(y[ib].D);
        }
        return sumf;
    }

    public static float Q4_1(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ4_1*)vx;
        var y = (BlockQ8_1*)vy;
        float sumf = 0;
        for (int ib = 0; ib < n / 32; ib++)
        {
            int sumi0 = 0, sumi1 = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi0 += (x[ib].Qs[j] & 0x0F) * y[ib].Qs[j];
                sumi1 += (x[ib].Qs[j] >> 4) * y[ib].Qs[j + 16];
            }
            sumf += Fp16.ToFloat(x[ib].D) * Fp16.ToFloat(y[ib].D) * (sumi0 + sumi1) + Fp16.ToFloat(x[ib].M) * Fp16.ToFloat(y[ib].S);
        }
        return sumf;
    }

    public static float Q5_0(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ5_0*)vx;
        var y = (BlockQ8_0*)vy;
        float sumf = 0;
        for (int ib = 0; ib < n / 32; ib++)
        {
            uint qh = *(uint*)x[ib].Qh;
            int sumi0 = 0, sumi1 = 0;
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) & 1) << 4;
                int h1 = (int)((qh >> (j + 16)) & 1) << 4;
                sumi0 += (((x[ib].Qs[j] & 0x0F) | h0) - 16) * y[ib].Qs[j];
                sumi1 += (((x[ib].Qs[j] >> 4) | h1) - 16) * y[ib].Qs[j + 16];
            }
            sumf += Fp16.ToFloat(x[ib].D) * Fp16.ToFloat(y[ib].D) * (sumi0 + sumi1);
        }
        return sumf;
    }

    public static float Q5_1(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ5_1*)vx;
        var y = (BlockQ8_1*)vy;
        float sumf = 0;
        for (int ib = 0; ib < n / 32; ib++)
        {
            uint qh = *(uint*)x[ib].Qh;
            int sumi0 = 0, sumi1 = 0;
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) & 1) << 4;
                int h1 = (int)((qh >> (j + 16)) & 1) << 4;
                sumi0 += ((x[ib].Qs[j] & 0x0F) | h0) * y[ib].Qs[j];
                sumi1 += ((x[ib].Qs[j] >> 4) | h1) * y[ib].Qs[j + 16];
            }
            sumf += Fp16.ToFloat(x[ib].D) * Fp16.ToFloat(y[ib].D) * (sumi0 + sumi1) + Fp16.ToFloat(x[ib].M) * Fp16.ToFloat(y[ib].S);
        }
        return sumf;
    }

    public static float Q8_0(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ8_0*)vx;
        var y = (BlockQ8_0*)vy;
        float sumf = 0;
        for (int ib = 0; ib < n / 32; ib++)
        {
            int sumi = 0;
            for (int j = 0; j < 32; j++)
                sumi += x[ib].Qs[j] * y[ib].Qs[j];
            sumf += sumi * (Fp16.ToFloat(x[ib].D) * Fp16.ToFloat(y[ib].D));
        }
        return sumf;
    }

    public static float IQ4_NL(byte* vx, byte* vy, int n)
    {
        var x = (BlockIQ4_NL*)vx;
        var y = (BlockQ8_0*)vy;
        ReadOnlySpan<sbyte> kv = Dequantize.IQ4Values;
        float sumf = 0;
        for (int ib = 0; ib < n / 32; ib++)
        {
            float d = Fp16.ToFloat(y[ib].D) * Fp16.ToFloat(x[ib].D);
            int sumi1 = 0, sumi2 = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi1 += y[ib].Qs[j] * kv[x[ib].Qs[j] & 0xF];
                sumi2 += y[ib].Qs[j + 16] * kv[x[ib].Qs[j] >> 4];
            }
            sumf += d * (sumi1 + sumi2);
        }
        return sumf;
    }

    public static float Q2_K(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ2_K*)vx;
        var y = (BlockQ8_K*)vy;
        float sumf = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* q2 = x[i].Qs;
            sbyte* q8 = y[i].Qs;
            byte* sc = x[i].Scales;
            int summs = 0;
            for (int j = 0; j < 16; j++)
                summs += y[i].BSums[j] * (sc[j] >> 4);
            float dall = y[i].D * Fp16.ToFloat(x[i].D);
            float dmin = y[i].D * Fp16.ToFloat(x[i].DMin);
            int isum = 0, isc = 0;
            for (int k = 0; k < 2; k++, q2 += 32)
            {
                for (int shift = 0; shift < 8; shift += 2, q8 += 32)
                {
                    int d = sc[isc++] & 0xF, isuml = 0;
                    for (int l = 0; l < 16; l++)
                        isuml += q8[l] * ((q2[l] >> shift) & 3);
                    isum += d * isuml;
                    d = sc[isc++] & 0xF;
                    isuml = 0;
                    for (int l = 16; l < 32; l++)
                        isuml += q8[l] * ((q2[l] >> shift) & 3);
                    isum += d * isuml;
                }
            }
            sumf += dall * isum - dmin * summs;
        }
        return sumf;
    }

    public static float Q3_K(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ3_K*)vx;
        var y = (BlockQ8_K*)vy;
        sbyte* aux8 = stackalloc sbyte[256];
        int* aux32 = stackalloc int[8];
        int* sc16 = stackalloc int[16];
        float* sums = stackalloc float[8];
        for (int l = 0; l < 8; l++)
            sums[l] = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* q3 = x[i].Qs;
            byte* hm = x[i].HMask;
            sbyte* a = aux8;
            int m = 1;
            for (int j = 0; j < 256; j += 128, q3 += 32)
            {
                for (int shift = 0; shift < 8; shift += 2, m <<= 1, a += 32)
                    for (int l = 0; l < 32; l++)
                        a[l] = (sbyte)(((q3[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));
            }
            for (int j = 0; j < 16; j++)
                sc16[j] = Dequantize.Q3Scale(x[i].Scales, j);
            Aux8Dot(aux8, y[i].Qs, aux32, sc16);
            float d = Fp16.ToFloat(x[i].D) * y[i].D;
            for (int l = 0; l < 8; l++)
                sums[l] += d * aux32[l];
        }
        float sumf = 0;
        for (int l = 0; l < 8; l++)
            sumf += sums[l];
        return sumf;
    }

    public static float Q4_K(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ4_K*)vx;
        var y = (BlockQ8_K*)vy;
        sbyte* aux8 = stackalloc sbyte[256];
        int* aux32 = stackalloc int[8];
        int* sc16 = stackalloc int[16];
        float* sums = stackalloc float[8];
        int* scales = stackalloc int[8];
        for (int l = 0; l < 8; l++)
            sums[l] = 0;
        float sumf = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* q4 = x[i].Qs;
            sbyte* a = aux8;
            for (int j = 0; j < 4; j++, q4 += 32, a += 64)
            {
                for (int l = 0; l < 32; l++)
                {
                    a[l] = (sbyte)(q4[l] & 0xF);
                    a[l + 32] = (sbyte)(q4[l] >> 4);
                }
            }
            int sumi = 0;
            for (int j = 0; j < 8; j++)
            {
                Dequantize.ScaleMinK4(j, x[i].Scales, out scales[j], out int min);
                sumi += (y[i].BSums[2 * j] + y[i].BSums[2 * j + 1]) * min;
            }
            for (int j = 0; j < 16; j++)
                sc16[j] = scales[j / 2];
            Aux8Dot(aux8, y[i].Qs, aux32, sc16);
            float d = Fp16.ToFloat(x[i].D) * y[i].D;
            for (int l = 0; l < 8; l++)
                sums[l] += d * aux32[l];
            float dmin = Fp16.ToFloat(x[i].DMin) * y[i].D;
            sumf -= dmin * sumi;
        }
        for (int l = 0; l < 8; l++)
            sumf += sums[l];
        return sumf;
    }

    public static float Q5_K(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ5_K*)vx;
        var y = (BlockQ8_K*)vy;
        sbyte* aux8 = stackalloc sbyte[256];
        int* aux32 = stackalloc int[8];
        int* sc16 = stackalloc int[16];
        float* sums = stackalloc float[8];
        int* scales = stackalloc int[8];
        for (int l = 0; l < 8; l++)
            sums[l] = 0;
        float sumf = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* q4 = x[i].Qs;
            byte* hm = x[i].Qh;
            sbyte* a = aux8;
            int m = 1;
            for (int j = 0; j < 4; j++, q4 += 32, a += 64, m <<= 2)
            {
                for (int l = 0; l < 32; l++)
                {
                    a[l] = (sbyte)((q4[l] & 0xF) + ((hm[l] & m) != 0 ? 16 : 0));
                    a[l + 32] = (sbyte)((q4[l] >> 4) + ((hm[l] & (m << 1)) != 0 ? 16 : 0));
                }
            }
            int sumi = 0;
            for (int j = 0; j < 8; j++)
            {
                Dequantize.ScaleMinK4(j, x[i].Scales, out scales[j], out int min);
                sumi += (y[i].BSums[2 * j] + y[i].BSums[2 * j + 1]) * min;
            }
            for (int j = 0; j < 16; j++)
                sc16[j] = scales[j / 2];
            Aux8Dot(aux8, y[i].Qs, aux32, sc16);
            float d = Fp16.ToFloat(x[i].D) * y[i].D;
            for (int l = 0; l < 8; l++)
                sums[l] += d * aux32[l];
            float dmin = Fp16.ToFloat(x[i].DMin) * y[i].D;
            sumf -= dmin * sumi;
        }
        for (int l = 0; l < 8; l++)
            sumf += sums[l];
        return sumf;
    }

    public static float Q6_K(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ6_K*)vx;
        var y = (BlockQ8_K*)vy;
        sbyte* aux8 = stackalloc sbyte[256];
        int* aux32 = stackalloc int[8];
        int* sc16 = stackalloc int[16];
        float* sums = stackalloc float[8];
        for (int l = 0; l < 8; l++)
            sums[l] = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* q4 = x[i].Ql;
            byte* qh = x[i].Qh;
            sbyte* a = aux8;
            for (int j = 0; j < 256; j += 128, a += 128, q4 += 64, qh += 32)
            {
                for (int l = 0; l < 32; l++)
                {
                    a[l] = (sbyte)(((q4[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                    a[l + 32] = (sbyte)(((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    a[l + 64] = (sbyte)(((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    a[l + 96] = (sbyte)(((q4[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            }
            for (int j = 0; j < 16; j++)
                sc16[j] = x[i].Scales[j];
            Aux8Dot(aux8, y[i].Qs, aux32, sc16);
            float d = Fp16.ToFloat(x[i].D) * y[i].D;
            for (int l = 0; l < 8; l++)
                sums[l] += d * aux32[l];
        }
        float sumf = 0;
        for (int l = 0; l < 8; l++)
            sumf += sums[l];
        return sumf;
    }

    public static float IQ4_XS(byte* vx, byte* vy, int n)
    {
        var x = (BlockIQ4_XS*)vx;
        var y = (BlockQ8_K*)vy;
        ReadOnlySpan<sbyte> kv = Dequantize.IQ4Values;
        float sumf = 0;
        for (int ibl = 0; ibl < n / 256; ibl++)
        {
            float d4d8 = Fp16.ToFloat(x[ibl].D) * y[ibl].D;
            int h = x[ibl].ScalesH;
            byte* qs = x[ibl].Qs;
            sbyte* q8 = y[ibl].Qs;
            for (int ib = 0; ib < 8; ib++, qs += 16, q8 += 32)
            {
                int ls = ((x[ibl].ScalesL[ib / 2] >> (4 * (ib & 1))) & 0xF) | (((h >> (2 * ib)) & 3) << 4);
                float dl = d4d8 * (ls - 32);
                int sumi1 = 0, sumi2 = 0;
                for (int j = 0; j < 16; j++)
                {
                    sumi1 += q8[j] * kv[qs[j] & 0xF];
                    sumi2 += q8[j + 16] * kv[qs[j] >> 4];
                }
                sumf += dl * (sumi1 + sumi2);
            }
        }
        return sumf;
    }

    // ggml's generic K-quant inner loop: 16-value groups, each scaled by scale(group), summed into 8 lanes.
    private static void Aux8Dot(sbyte* a, sbyte* q8, int* aux32, int* scale)
    {
        for (int l = 0; l < 8; l++)
            aux32[l] = 0;
        for (int j = 0; j < 16; j++)
        {
            int s = scale[j];
            for (int half = 0; half < 2; half++, q8 += 8, a += 8)
                for (int l = 0; l < 8; l++)
                    aux32[l] += s * (q8[l] * a[l]);
        }
    }
}
