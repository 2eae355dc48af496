using System.Runtime.InteropServices;

namespace Fathom.Tensors.Quants;

// Block layouts of the quantized GGUF types, byte for byte as ggml-common.h declares them.
// Scales are raw IEEE half bits (ushort): read them with Fp16.ToFloat, write them with Fp16.FromFloat.
// QK_K = 256 for every K-quant and IQ type.

/// <summary>Q4_0: 32 weights, x = d·(q − 8).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_0
{
    public const int Elements = 32;
    public ushort D;
    public fixed byte Qs[16];
}

/// <summary>Q4_1: 32 weights, x = d·q + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_1
{
    public const int Elements = 32;
    public ushort D;
    public ushort M;
    public fixed byte Qs[16];
}

/// <summary>Q5_0: 32 weights, x = d·(q − 16); bit 4 of q in <see cref="Qh"/> (little-endian u32, bit j = element j).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_0
{
    public const int Elements = 32;
    public ushort D;
    public fixed byte Qh[4];
    public fixed byte Qs[16];
}

/// <summary>Q5_1: 32 weights, x = d·q + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_1
{
    public const int Elements = 32;
    public ushort D;
    public ushort M;
    public fixed byte Qh[4];
    public fixed byte Qs[16];
}

/// <summary>Q8_0: 32 weights, x = d·q. Also the activation format of Q4_0/Q5_0/Q8_0/IQ4_NL dot products.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_0
{
    public const int Elements = 32;
    public ushort D;
    public fixed sbyte Qs[32];
}

/// <summary>Q8_1: Q8_0 plus S = f16(d·Σq); the activation format of Q4_1/Q5_1 dot products.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_1
{
    public const int Elements = 32;
    public ushort D;
    public ushort S;
    public fixed sbyte Qs[32];
}

/// <summary>Q2_K: 16 sub-blocks of 16; scales byte = scale (low nibble) | min (high nibble); x = d·sc·q − dmin·m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ2_K
{
    public const int Elements = 256;
    public fixed byte Scales[16];
    public fixed byte Qs[64];
    public ushort D;
    public ushort DMin;
}

/// <summary>Q3_K: 16 sub-blocks of 16 with 6-bit signed scales packed in 12 bytes; x = d·(sc − 32)·(q − 4·!hbit).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ3_K
{
    public const int Elements = 256;
    public fixed byte HMask[32];
    public fixed byte Qs[64];
    public fixed byte Scales[12];
    public ushort D;
}

/// <summary>Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes; x = d·sc·q − dmin·m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_K
{
    public const int Elements = 256;
    public ushort D;
    public ushort DMin;
    public fixed byte Scales[12];
    public fixed byte Qs[128];
}

/// <summary>Q5_K: as Q4_K plus a fifth bit per weight in <see cref="Qh"/>.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_K
{
    public const int Elements = 256;
    public ushort D;
    public ushort DMin;
    public fixed byte Scales[12];
    public fixed byte Qh[32];
    public fixed byte Qs[128];
}

/// <summary>Q6_K: 16 sub-blocks of 16 with int8 scales; x = d·sc·(q − 32), q = 4 low bits in Ql, 2 high in Qh.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ6_K
{
    public const int Elements = 256;
    public fixed byte Ql[128];
    public fixed byte Qh[64];
    public fixed sbyte Scales[16];
    public ushort D;
}

/// <summary>Q8_K: float32 scale, 256 int8 quants, and the sum of each group of 16 quants; the K-quant activation format.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_K
{
    public const int Elements = 256;
    public float D;
    public fixed sbyte Qs[256];
    public fixed short BSums[16];
}

/// <summary>IQ4_NL: 32 weights, x = d·kvalues[q] with a fixed non-linear 16-entry table.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ4_NL
{
    public const int Elements = 32;
    public ushort D;
    public fixed byte Qs[16];
}

/// <summary>IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in ScalesL, high 2 in ScalesH); x = d·(ls − 32)·kvalues[q].</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ4_XS
{
    public const int Elements = 256;
    public ushort D;
    public ushort ScalesH;
    public fixed byte ScalesL[4];
    public fixed byte Qs[128];
}

/// <summary>IQ2_XXS: 8 groups of 32; each group is 4 grid indices (8 bits) + 4×7 sign bits + a 4-bit scale in two u32.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ2_XXS
{
    public const int Elements = 256;
    public ushort D;
    public fixed ushort Qs[32];
}

/// <summary>IQ2_XS: 9-bit grid index + 7 sign bits per u16, 4-bit scales per 16 weights.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ2_XS
{
    public const int Elements = 256;
    public ushort D;
    public fixed ushort Qs[32];
    public fixed byte Scales[8];
}

/// <summary>IQ2_S: 10-bit grid index (8 in Qs, 2 in Qh), explicit sign bytes, 4-bit scales.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ2_S
{
    public const int Elements = 256;
    public ushort D;
    public fixed byte Qs[64];
    public fixed byte Qh[8];
    public fixed byte Scales[8];
}

/// <summary>IQ3_XXS: 8-bit indices into a 256-entry grid of 4 values; signs and scales in the last 32 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ3_XXS
{
    public const int Elements = 256;
    public ushort D;
    public fixed byte Qs[96];
}

/// <summary>IQ3_S: 9-bit indices into a 512-entry grid, explicit signs, 4-bit scales.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ3_S
{
    public const int Elements = 256;
    public ushort D;
    public fixed byte Qs[64];
    public fixed byte Qh[8];
    public fixed byte Signs[32];
    public fixed byte Scales[4];
}

/// <summary>IQ1_S: 11-bit grid indices, 3-bit scales and a delta sign per 32 weights.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ1_S
{
    public const int Elements = 256;
    public ushort D;
    public fixed byte Qs[32];
    public fixed ushort Qh[8];
}

/// <summary>IQ1_M: no block scale field; the f16 scale is spread over the top nibbles of <see cref="Scales"/>.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ1_M
{
    public const int Elements = 256;
    public fixed byte Qs[32];
    public fixed byte Qh[16];
    public fixed byte Scales[8];
}

/// <summary>TQ1_0 (ternary): 5 trits per byte in Qs (240 weights), 4 per byte in Qh (16 weights); x = d·(t − 1).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockTQ1_0
{
    public const int Elements = 256;
    public fixed byte Qs[48];
    public fixed byte Qh[4];
    public ushort D;
}

/// <summary>TQ2_0 (ternary): 2 bits per weight; x = d·(q − 1).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockTQ2_0
{
    public const int Elements = 256;
    public fixed byte Qs[64];
    public ushort D;
}

/// <summary>MXFP4: an E8M0 shared exponent and 32 E2M1 values; x = kvalues[q]·2^(e−128).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockMXFP4
{
    public const int Elements = 32;
    public byte E;
    public fixed byte Qs[16];
}
