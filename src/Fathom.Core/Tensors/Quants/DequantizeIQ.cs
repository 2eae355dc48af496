using System.Runtime.CompilerServices;

namespace Fathom.Tensors.Quants;

// Dequantization of the lattice (IQ1–IQ3), ternary and MXFP4 formats, as ggml's dequantize_row_*.
public static unsafe partial class Dequantize
{
    private const float IQ1Delta = 0.125f;

    // ksigns_iq2xs[i]: the 7 stored sign bits plus an 8th that makes the number of minus signs even.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Signs7(uint i) => (int)(i | ((uint)(System.Numerics.BitOperations.PopCount(i) & 1) << 7));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sign(int signs, int j) => 1 - (((signs >> j) & 1) << 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte GridByte(ulong g, int j) => (byte)(g >> (8 * j));

    private static void IQ2_XXS(BlockIQ2_XXS* x, float* y, int nb)
    {
        ReadOnlySpan<ulong> grid = IQGrids.IQ2XXS;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* qs = (byte*)x->Qs;
            for (int ib = 0; ib < 8; ib++)
            {
                uint a0 = Unsafe.ReadUnaligned<uint>(qs + 8 * ib);
                uint a1 = Unsafe.ReadUnaligned<uint>(qs + 8 * ib + 4);
                float db = d * (0.5f + (a1 >> 28)) * 0.25f;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    ulong g = grid[(int)((a0 >> (8 * l)) & 0xFF)];
                    int signs = Signs7((a1 >> (7 * l)) & 127);
                    for (int j = 0; j < 8; j++)
                        y[j] = db * GridByte(g, j) * Sign(signs, j);
                }
            }
        }
    }

    private static void IQ2_XS(BlockIQ2_XS* x, float* y, int nb)
    {
        ReadOnlySpan<ulong> grid = IQGrids.IQ2XS;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            for (int ib = 0; ib < 8; ib++)
            {
                float db0 = d * (0.5f + (x->Scales[ib] & 0xf)) * 0.25f;
                float db1 = d * (0.5f + (x->Scales[ib] >> 4)) * 0.25f;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    ushort q = x->Qs[4 * ib + l];
                    ulong g = grid[q & 511];
                    int signs = Signs7((uint)q >> 9);
                    float db = l < 2 ? db0 : db1;
                    for (int j = 0; j < 8; j++)
                        y[j] = db * GridByte(g, j) * Sign(signs, j);
                }
            }
        }
    }

    private static void IQ2_S(BlockIQ2_S* x, float* y, int nb)
    {
        ReadOnlySpan<ulong> grid = IQGrids.IQ2S;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* qs = x->Qs;
            byte* signs = x->Qs + 32;
            for (int ib = 0; ib < 8; ib++, qs += 4, signs += 4)
            {
                float db0 = d * (0.5f + (x->Scales[ib] & 0xf)) * 0.25f;
                float db1 = d * (0.5f + (x->Scales[ib] >> 4)) * 0.25f;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    float dl = l < 2 ? db0 : db1;
                    ulong g = grid[qs[l] | ((x->Qh[ib] << (8 - 2 * l)) & 0x300)];
                    for (int j = 0; j < 8; j++)
                        y[j] = dl * GridByte(g, j) * Sign(signs[l], j);
                }
            }
        }
    }

    private static void IQ3_XXS(BlockIQ3_XXS* x, float* y, int nb)
    {
        ReadOnlySpan<uint> grid = IQGrids.IQ3XXS;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* qs = x->Qs;
            byte* scalesAndSigns = x->Qs + 64;
            for (int ib = 0; ib < 8; ib++, qs += 8)
            {
                uint aux = Unsafe.ReadUnaligned<uint>(scalesAndSigns + 4 * ib);
                float db = d * (0.5f + (aux >> 28)) * 0.5f;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    int signs = Signs7((aux >> (7 * l)) & 127);
                    uint g1 = grid[qs[2 * l]], g2 = grid[qs[2 * l + 1]];
                    for (int j = 0; j < 4; j++)
                    {
                        y[j] = db * (byte)(g1 >> (8 * j)) * Sign(signs, j);
                        y[j + 4] = db * (byte)(g2 >> (8 * j)) * Sign(signs, j + 4);
                    }
                }
            }
        }
    }

    private static void IQ3_S(BlockIQ3_S* x, float* y, int nb)
    {
        ReadOnlySpan<uint> grid = IQGrids.IQ3S;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* qs = x->Qs;
            byte* qh = x->Qh;
            byte* signs = x->Signs;
            for (int ib = 0; ib < 8; ib += 2)
            {
                float db1 = d * (1 + 2 * (x->Scales[ib / 2] & 0xf));
                float db2 = d * (1 + 2 * (x->Scales[ib / 2] >> 4));
                for (int half = 0; half < 2; half++, qs += 8, signs += 4)
                {
                    float db = half == 0 ? db1 : db2;
                    int h = qh[half];
                    for (int l = 0; l < 4; l++, y += 8)
                    {
                        uint g1 = grid[qs[2 * l] | ((h << (8 - 2 * l)) & 256)];
                        uint g2 = grid[qs[2 * l + 1] | ((h << (7 - 2 * l)) & 256)];
                        for (int j = 0; j < 4; j++)
                        {
                            y[j] = db * (byte)(g1 >> (8 * j)) * Sign(signs[l], j);
                            y[j + 4] = db * (byte)(g2 >> (8 * j)) * Sign(signs[l], j + 4);
                        }
                    }
                }
                qh += 2;
            }
        }
    }

    private static void IQ1_S(BlockIQ1_S* x, float* y, int nb)
    {
        ReadOnlySpan<ulong> grid = IQGrids.IQ1S;
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            byte* qs = x->Qs;
            for (int ib = 0; ib < 8; ib++, qs += 4)
            {
                int qh = x->Qh[ib];
                float dl = d * (2 * ((qh >> 12) & 7) + 1);
                float delta = (qh & 0x8000) != 0 ? -IQ1Delta : IQ1Delta;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    ulong g = grid[qs[l] | (((qh >> (3 * l)) & 7) << 8)];
                    for (int j = 0; j < 8; j++)
                        y[j] = dl * ((sbyte)(g >> (8 * j)) + delta);
                }
            }
        }
    }

    private static void IQ1_M(BlockIQ1_M* x, float* y, int nb)
    {
        ReadOnlySpan<ulong> grid = IQGrids.IQ1S;
        int* idx = stackalloc int[4];
        float* delta = stackalloc float[4];
        for (int i = 0; i < nb; i++, x++)
        {
            ushort* sc = (ushort*)x->Scales;
            ushort scaleBits = (ushort)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
            float d = Fp16.ToFloat(scaleBits);
            byte* qs = x->Qs;
            byte* qh = x->Qh;
            for (int ib = 0; ib < 8; ib++, qs += 4, qh += 2)
            {
                float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 0x7) + 1);
                float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
                idx[0] = qs[0] | ((qh[0] << 8) & 0x700);
                idx[1] = qs[1] | ((qh[0] << 4) & 0x700);
                idx[2] = qs[2] | ((qh[1] << 8) & 0x700);
                idx[3] = qs[3] | ((qh[1] << 4) & 0x700);
                delta[0] = (qh[0] & 0x08) != 0 ? -IQ1Delta : IQ1Delta;
                delta[1] = (qh[0] & 0x80) != 0 ? -IQ1Delta : IQ1Delta;
                delta[2] = (qh[1] & 0x08) != 0 ? -IQ1Delta : IQ1Delta;
                delta[3] = (qh[1] & 0x80) != 0 ? -IQ1Delta : IQ1Delta;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    float dl = l < 2 ? dl1 : dl2;
                    ulong g = grid[idx[l]];
                    for (int j = 0; j < 8; j++)
                        y[j] = dl * ((sbyte)(g >> (8 * j)) + delta[l]);
                }
            }
        }
    }

    private static void TQ1_0(BlockTQ1_0* x, float* y, int nb)
    {
        ReadOnlySpan<byte> pow3 = [1, 3, 9, 27, 81, 243];
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            // 48 bytes of 5 trits: a group of 32 bytes, then one of 16.
            for (int j = 0; j < 48; j += j == 0 ? 32 : 16)
            {
                int width = j == 0 ? 32 : 16;
                for (int n = 0; n < 5; n++)
                    for (int m = 0; m < width; m++)
                        *y++ = Trit((byte)(x->Qs[j + m] * pow3[n])) * d;
            }
            for (int n = 0; n < 4; n++)
                for (int j = 0; j < 4; j++)
                    *y++ = Trit((byte)(x->Qh[j] * pow3[n])) * d;
        }
    }

    // The top trit of a byte that stores trits as a base-3 fraction: ⌊q·3/256⌋ − 1.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Trit(byte q) => (float)(((q * 3) >> 8) - 1);

    private static void TQ2_0(BlockTQ2_0* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x++)
        {
            float d = Fp16.ToFloat(x->D);
            for (int j = 0; j < 64; j += 32)
                for (int l = 0; l < 4; l++)
                    for (int m = 0; m < 32; m++)
                        *y++ = (float)(((x->Qs[j + m] >> (l * 2)) & 3) - 1) * d;
        }
    }

    private static ReadOnlySpan<sbyte> MXFP4Values => [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    private static void MXFP4(BlockMXFP4* x, float* y, int nb)
    {
        ReadOnlySpan<sbyte> kv = MXFP4Values;
        for (int i = 0; i < nb; i++, x++, y += 32)
        {
            // Half of 2^(e−127): the table holds doubled E2M1 values.
            uint bits = x->E < 2 ? 0x00200000u << x->E : (uint)(x->E - 1) << 23;
            float d = BitConverter.UInt32BitsToSingle(bits);
            for (int j = 0; j < 16; j++)
            {
                y[j] = kv[x->Qs[j] & 0x0F] * d;
                y[j + 16] = kv[x->Qs[j] >> 4] * d;
            }
        }
    }
}
