namespace Fathom.Tensors.Quants;

// IQ4_NL / IQ4_XS weight quantizers: llama.cpp's quantize_iq4_nl / quantize_iq4_xs without an importance
// matrix (what llama-quantize runs: a ±7-step scale search per block of 32, weights x²).
public static unsafe partial class Quantize
{
    /// <summary>Index of the table value nearest to <paramref name="x"/> (the upper one on exact ties), as best_index_int8.</summary>
    private static int BestIndex(ReadOnlySpan<sbyte> values, float x)
    {
        int n = values.Length;
        if (x <= values[0]) return 0;
        if (x >= values[n - 1]) return n - 1;
        int ml = 0, mu = n - 1;
        while (mu - ml > 1)
        {
            int mid = (ml + mu) / 2;
            if (x < values[mid]) mu = mid; else ml = mid;
        }
        return x - values[mu - 1] < values[mu] - x ? mu - 1 : mu;
    }

    /// <summary>quantize_row_iq4_nl_impl for one super-block (32 for IQ4_NL, 256 for IQ4_XS) with ntry = 7 and no importance weights.</summary>
    private static void IQ4Block(int superBlock, float* x, ushort* dh, byte* q4, ushort* scalesH, byte* scalesL, float* scales, byte* L)
    {
        const int ntry = 7;
        const int blockSize = 32;
        ReadOnlySpan<sbyte> values = Dequantize.IQ4Values;
        float* weight = stackalloc float[blockSize];
        new Span<byte>(q4, superBlock / 2).Clear();
        *dh = Fp16.FromFloat(0f);
        float maxScale = 0, amaxScale = 0;
        int nb = superBlock / blockSize;
        for (int ib = 0; ib < nb; ib++)
        {
            float* xb = x + ib * blockSize;
            byte* Lb = L + ib * blockSize;
            for (int j = 0; j < blockSize; j++) weight[j] = xb[j] * xb[j];
            float amax = 0, max = 0;
            for (int j = 0; j < blockSize; j++)
            {
                float ax = MathF.Abs(xb[j]);
                if (ax > amax) { amax = ax; max = xb[j]; }
            }
            if (amax < GroupMaxEps)
            {
                scales[ib] = 0;
                continue;
            }
            float d = -max / values[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < blockSize; j++)
            {
                int l = BestIndex(values, id * xb[j]);
                Lb[j] = (byte)l;
                float q = values[l];
                float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; itry++)
            {
                id = (itry + values[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < blockSize; j++)
                {
                    float q = values[BestIndex(values, id * xb[j])];
                    float w = weight[j];
                    sumqx += w * q * xb[j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
                {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scales[ib] = d;
            float absD = MathF.Abs(d);
            if (absD > amaxScale)
            {
                amaxScale = absD;
                maxScale = d;
            }
        }

        if (nb > 1)
        {
            *scalesH = 0;
            float d = -maxScale / 32;
            *dh = Fp16.FromFloat(d);
            float id = d != 0 ? 1 / d : 0f;
            for (int ib = 0; ib < nb; ib++)
            {
                int l = NearestInt(id * scales[ib]);
                l = Math.Max(-32, Math.Min(31, l));
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0f;
                byte* Lb = L + ib * blockSize;
                float* xb = x + ib * blockSize;
                for (int j = 0; j < blockSize; j++)
                    Lb[j] = (byte)BestIndex(values, idl * xb[j]);
                l += 32;
                int lowBits = l & 0xf, highBits = l >> 4;
                if (ib % 2 == 0) scalesL[ib / 2] = (byte)lowBits;
                else scalesL[ib / 2] |= (byte)(lowBits << 4);
                *scalesH |= (ushort)(highBits << (2 * (ib % 8)));
            }
        }
        else
        {
            *dh = Fp16.FromFloat(scales[0]);
            float id = scales[0] != 0 ? 1 / scales[0] : 0;
            for (int j = 0; j < superBlock; j++)
                L[j] = (byte)BestIndex(values, id * x[j]);
        }

        for (int i = 0; i < superBlock / 32; i++)
        {
            for (int j = 0; j < 16; j++)
                q4[16 * i + j] = (byte)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
        }
    }

    private static void IQ4_NL(float* x, BlockIQ4_NL* y, int nb)
    {
        byte* L = stackalloc byte[32];
        float scale;
        ushort unusedH;
        for (int i = 0; i < nb; i++, x += 32, y++)
            IQ4Block(32, x, &y->D, y->Qs, &unusedH, null, &scale, L);
    }

    private static void IQ4_XS(float* x, BlockIQ4_XS* y, int nb)
    {
        byte* L = stackalloc byte[256];
        float* scales = stackalloc float[8];
        for (int i = 0; i < nb; i++, x += 256, y++)
            IQ4Block(256, x, &y->D, y->Qs, &y->ScalesH, y->ScalesL, scales, L);
    }
}
