namespace Fathom.Tensors.Quants;

// K-quant weight quantizers: llama.cpp's quantize_row_q{2..6}_K_ref with their search helpers.
// Every float expression keeps ggml's operand order; changing it changes bytes.
public static unsafe partial class Quantize
{
    private const float GroupMaxEps = 1e-15f;

    /// <summary>make_qx_quants: symmetric quants in [-nmax, nmax-1] with a small scale search; L gets q + nmax.</summary>
    private static float MakeQxQuants(int n, int nmax, float* x, sbyte* L, int rmseType, float* qw)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        if (rmseType == 0)
        {
            for (int i = 0; i < n; i++)
            {
                int l = NearestInt(iscale * x[i]);
                L[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, l)));
            }
            return 1 / iscale;
        }
        bool returnEarly = false;
        if (rmseType < 0)
        {
            rmseType = -rmseType;
            returnEarly = true;
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * x[i]);
            l = Math.Max(-nmax, Math.Min(nmax - 1, l));
            L[i] = (sbyte)(l + nmax);
            float w = Weight(qw, x, i, rmseType);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        if (returnEarly)
            return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0)
                continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = NearestInt(iscale * x[i]);
                l = Math.Max(-nmax, Math.Min(nmax - 1, l));
                float w = Weight(qw, x, i, rmseType);
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                {
                    int l = NearestInt(iscale * x[i]);
                    L[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static float Weight(float* qw, float* x, int i, int rmseType)
    {
        if (qw != null) return qw[i];
        return rmseType switch
        {
            1 => x[i] * x[i],
            2 => 1,
            3 => MathF.Abs(x[i]),
            _ => MathF.Sqrt(MathF.Abs(x[i])),
        };
    }

    /// <summary>make_q3_quants: symmetric quants in [-nmax, nmax-1] refined by coordinate descent; L gets q + nmax.</summary>
    private static float MakeQ3Quants(int n, int nmax, float* x, sbyte* L, bool doRmse)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        if (doRmse)
        {
            float sumlx = 0, suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = NearestInt(iscale * x[i]);
                l = Math.Max(-nmax, Math.Min(nmax - 1, l));
                L[i] = (sbyte)l;
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            for (int itry = 0; itry < 5; itry++)
            {
                int changed = 0;
                for (int i = 0; i < n; i++)
                {
                    float w = x[i] * x[i];
                    float slx = sumlx - w * x[i] * L[i];
                    if (slx > 0)
                    {
                        float sl2 = suml2 - w * L[i] * L[i];
                        int newL = NearestInt(x[i] * sl2 / slx);
                        newL = Math.Max(-nmax, Math.Min(nmax - 1, newL));
                        if (newL != L[i])
                        {
                            slx += w * x[i] * newL;
                            sl2 += w * newL * newL;
                            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                            {
                                L[i] = (sbyte)newL;
                                sumlx = slx;
                                suml2 = sl2;
                                changed++;
                            }
                        }
                    }
                }
                if (changed == 0)
                    break;
            }
            for (int i = 0; i < n; i++)
                L[i] = (sbyte)(L[i] + nmax);
            return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
        }
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * x[i]);
            l = Math.Max(-nmax, Math.Min(nmax - 1, l));
            L[i] = (sbyte)(l + nmax);
        }
        return 1 / iscale;
    }

    /// <summary>make_qkx2_quants: asymmetric quants in [0, nmax] with a weighted search over scale and min.</summary>
    private static float MakeQkx2Quants(int n, int nmax, float* x, float* weights, byte* L, out float theMin, byte* Laux,
        float rmin, float rdelta, int nstep, bool useMad)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            L[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * L[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = NearestInt(iscale * (x[i] - min));
                l = Math.Max(0, Math.Min(nmax, l));
                Laux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * Laux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError)
                {
                    for (int i = 0; i < n; i++) L[i] = Laux[i];
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>Packs 2-bit quants: byte l of each 32-byte group holds elements l, l+32, l+64, l+96 of its 128.</summary>
    private static void Pack2Bit(byte* L, byte* qs)
    {
        for (int j = 0; j < 256; j += 128)
        {
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (byte)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }

    private static void Q2_K(float* x, BlockQ2_K* y, int nb)
    {
        byte* L = stackalloc byte[256];
        byte* Laux = stackalloc byte[16];
        float* weights = stackalloc float[16];
        float* mins = stackalloc float[16];
        float* scales = stackalloc float[16];
        const float q4scale = 15f;
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(x[16 * j + l]);
                scales[j] = MakeQkx2Quants(16, 3, x + 16 * j, weights, L + 16 * j, out mins[j], Laux, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            if (maxScale > 0)
            {
                float iscale = q4scale / maxScale;
                for (int j = 0; j < 16; j++)
                    y->Scales[j] = (byte)NearestInt(iscale * scales[j]);
                y->D = Fp16.FromFloat(maxScale / q4scale);
            }
            else
            {
                for (int j = 0; j < 16; j++) y->Scales[j] = 0;
                y->D = Fp16.FromFloat(0f);
            }
            if (maxMin > 0)
            {
                float iscale = q4scale / maxMin;
                for (int j = 0; j < 16; j++)
                    y->Scales[j] |= (byte)(NearestInt(iscale * mins[j]) << 4);
                y->DMin = Fp16.FromFloat(maxMin / q4scale);
            }
            else
            {
                y->DMin = Fp16.FromFloat(0f);
            }
            for (int j = 0; j < 16; j++)
            {
                float d = Fp16.ToFloat(y->D) * (y->Scales[j] & 0xF);
                if (d == 0) continue;
                float dm = Fp16.ToFloat(y->DMin) * (y->Scales[j] >> 4);
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = NearestInt((x[16 * j + ii] + dm) / d);
                    L[16 * j + ii] = (byte)Math.Max(0, Math.Min(3, l));
                }
            }
            Pack2Bit(L, y->Qs);
        }
    }

    private static void Q3_K(float* x, BlockQ3_K* y, int nb)
    {
        sbyte* L = stackalloc sbyte[256];
        float* scales = stackalloc float[16];
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = MakeQ3Quants(16, 4, x + 16 * j, L + 16 * j, true);
                float scale = MathF.Abs(scales[j]);
                if (scale > amax) { amax = scale; maxScale = scales[j]; }
            }
            new Span<byte>(y->Scales, 12).Clear();
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    sbyte l = (sbyte)NearestInt(iscale * scales[j]);
                    l = (sbyte)(Math.Max(-32, Math.Min(31, (int)l)) + 32);
                    if (j < 8)
                        y->Scales[j] = (byte)(l & 0xF);
                    else
                        y->Scales[j - 8] |= (byte)((l & 0xF) << 4);
                    l >>= 4;
                    y->Scales[j % 4 + 8] |= (byte)(l << (2 * (j / 4)));
                }
                y->D = Fp16.FromFloat(1 / iscale);
            }
            else
            {
                y->D = Fp16.FromFloat(0f);
            }
            for (int j = 0; j < 16; j++)
            {
                float d = Fp16.ToFloat(y->D) * Dequantize.Q3Scale(y->Scales, j);
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = NearestInt(x[16 * j + ii] / d);
                    L[16 * j + ii] = (sbyte)(Math.Max(-4, Math.Min(3, l)) + 4);
                }
            }
            new Span<byte>(y->HMask, 32).Clear();
            int m = 0;
            byte hm = 1;
            for (int j = 0; j < 256; j++)
            {
                if (L[j] > 3)
                {
                    y->HMask[m] |= hm;
                    L[j] -= 4;
                }
                if (++m == 32)
                {
                    m = 0;
                    hm <<= 1;
                }
            }
            Pack2Bit((byte*)L, y->Qs);
        }
    }

    /// <summary>Packs eight 6-bit scales and mins into Q4_K/Q5_K's 12 bytes (the inverse of Dequantize.ScaleMinK4).</summary>
    private static void PackScaleMinK4(byte* dst, int j, int ls, int lm)
    {
        if (j < 4)
        {
            dst[j] = (byte)ls;
            dst[j + 4] = (byte)lm;
        }
        else
        {
            dst[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
            dst[j - 4] |= (byte)((ls >> 4) << 6);
            dst[j] |= (byte)((lm >> 4) << 6);
        }
    }

    /// <summary>The shared part of Q4_K and Q5_K: per-32 scale/min search, 6-bit packing, then requantizing L with the stored scales.</summary>
    private static void ScalesMinsK(float* x, byte* L, int nmax, float rmin, float rdelta, int nstep, byte* packed, out ushort dBits, out ushort dminBits)
    {
        byte* Laux = stackalloc byte[32];
        float* weights = stackalloc float[32];
        float* mins = stackalloc float[8];
        float* scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[32 * j + l] * x[32 * j + l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(x[32 * j + l]);
            scales[j] = MakeQkx2Quants(32, nmax, x + 32 * j, weights, L + 32 * j, out mins[j], Laux, rmin, rdelta, nstep, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            byte ls = (byte)NearestInt(invScale * scales[j]);
            byte lm = (byte)NearestInt(invMin * mins[j]);
            PackScaleMinK4(packed, j, Math.Min((byte)63, ls), Math.Min((byte)63, lm));
        }
        dBits = Fp16.FromFloat(maxScale / 63f);
        dminBits = Fp16.FromFloat(maxMin / 63f);
        float dAll = Fp16.ToFloat(dBits), dminAll = Fp16.ToFloat(dminBits);
        for (int j = 0; j < 8; j++)
        {
            Dequantize.ScaleMinK4(j, packed, out int sc, out int m);
            float d = dAll * sc;
            if (d == 0) continue;
            float dm = dminAll * m;
            for (int ii = 0; ii < 32; ii++)
            {
                int l = NearestInt((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = (byte)Math.Max(0, Math.Min(nmax, l));
            }
        }
    }

    private static void Q4_K(float* x, BlockQ4_K* y, int nb)
    {
        byte* L = stackalloc byte[256];
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            new Span<byte>(y->Scales, 12).Clear();
            ScalesMinsK(x, L, 15, -1f, 0.1f, 20, y->Scales, out y->D, out y->DMin);
            byte* q = y->Qs;
            for (int j = 0; j < 256; j += 64, q += 32)
            {
                for (int l = 0; l < 32; l++)
                    q[l] = (byte)(L[j + l] | (L[j + l + 32] << 4));
            }
        }
    }

    private static void Q5_K(float* x, BlockQ5_K* y, int nb)
    {
        byte* L = stackalloc byte[256];
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            new Span<byte>(y->Scales, 12).Clear();
            ScalesMinsK(x, L, 31, -0.5f, 0.1f, 15, y->Scales, out y->D, out y->DMin);
            byte* qh = y->Qh;
            byte* ql = y->Qs;
            new Span<byte>(qh, 32).Clear();
            int m1 = 1, m2 = 2;
            for (int n = 0; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
            {
                for (int j = 0; j < 32; j++)
                {
                    int l1 = L[n + j];
                    if (l1 > 15) { l1 -= 16; qh[j] |= (byte)m1; }
                    int l2 = L[n + j + 32];
                    if (l2 > 15) { l2 -= 16; qh[j] |= (byte)m2; }
                    ql[j] = (byte)(l1 | (l2 << 4));
                }
            }
        }
    }

    private static void Q6_K(float* x, BlockQ6_K* y, int nb)
    {
        sbyte* L = stackalloc sbyte[256];
        float* scales = stackalloc float[16];
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++)
            {
                float scale = MakeQxQuants(16, 32, x + 16 * ib, L + 16 * ib, 1, null);
                scales[ib] = scale;
                float absScale = MathF.Abs(scale);
                if (absScale > maxAbsScale)
                {
                    maxAbsScale = absScale;
                    maxScale = scale;
                }
            }
            if (maxAbsScale < GroupMaxEps)
            {
                *y = default;
                continue;
            }
            float iscale = -128f / maxScale;
            y->D = Fp16.FromFloat(1 / iscale);
            for (int ib = 0; ib < 16; ib++)
                y->Scales[ib] = (sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
            for (int j = 0; j < 16; j++)
            {
                float d = Fp16.ToFloat(y->D) * y->Scales[j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = NearestInt(x[16 * j + ii] / d);
                    L[16 * j + ii] = (sbyte)(Math.Max(-32, Math.Min(31, l)) + 32);
                }
            }
            byte* ql = y->Ql;
            byte* qh = y->Qh;
            for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
            {
                for (int l = 0; l < 32; l++)
                {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    ql[l] = (byte)(q1 | (q3 << 4));
                    ql[l + 32] = (byte)(q2 | (q4 << 4));
                    qh[l] = (byte)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
                }
            }
        }
    }
}
