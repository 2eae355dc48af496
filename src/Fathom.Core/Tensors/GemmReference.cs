using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// Scalar statement of the order <see cref="Gemm"/> (and llama.cpp's repacked Q4_0/Q4_K kernels) sum in:
/// per block an exact integer dot, then acc = fma(float(isum), d_w·d_x, acc) block after block; Q4_K
/// keeps the mins in a second chain subtracted at the end and, in GEMM row groups, adds every 64 values. Arguments: weight row, activation row
/// (Q8_0 or Q8_K blocks), element count.
/// </summary>
internal static unsafe class GemmReference
{
    public static float Q4_0(byte* vx, byte* vy, int n)
    {
        var x = (BlockQ4_0*)vx;
        var y = (BlockQ8_0*)vy;
        float acc = 0;
        for (int b = 0; b < n / 32; b++, x++, y++)
        {
            int sum = 0;
            for (int i = 0; i < 16; i++)
                sum += ((x->Qs[i] & 0xF) - 8) * y->Qs[i] + ((x->Qs[i] >> 4) - 8) * y->Qs[i + 16];
            acc = MathF.FusedMultiplyAdd(sum, F16.Lookup(x->D) * F16.Lookup(y->D), acc);
        }
        return acc;
    }

    /// <summary>Q4_K with one FMA per 64 values (<paramref name="gemm4"/>: rows in whole groups of 4) or per super-block.</summary>
    public static float Q4_K(byte* vx, byte* vy, int n, bool gemm4)
    {
        var x = (BlockQ4_K*)vx;
        var y = (BlockQ8_K*)vy;
        float acc = 0, accMin = 0;
        for (int b = 0; b < n / 256; b++, x++, y++)
        {
            int sum = 0, sumMin = 0;
            for (int t = 0; t < 8; t++)
            {
                Dequantize.ScaleMinK4(t, x->Scales, out int sc, out int m);
                byte* q = x->Qs + 32 * (t / 2);
                int shift = 4 * (t & 1), dot = 0;
                for (int i = 0; i < 32; i++)
                    dot += ((q[i] >> shift) & 0xF) * y->Qs[32 * t + i];
                sum += sc * dot;
                sumMin += m * (y->BSums[2 * t] + y->BSums[2 * t + 1]);
                if (gemm4 ? (t & 1) == 1 : t == 7)
                {
                    acc = MathF.FusedMultiplyAdd(sum, F16.Lookup(x->D) * y->D, acc);
                    accMin = MathF.FusedMultiplyAdd(sumMin, F16.Lookup(x->DMin) * y->D, accMin);
                    sum = sumMin = 0;
                }
            }
        }
        return acc - accMin;
    }
}
