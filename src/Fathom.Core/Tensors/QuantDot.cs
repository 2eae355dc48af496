using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// Dot products of quantized weight rows with 8-bit activations (Q8_0, Q8_1 or Q8_K blocks), the
/// way ggml's AVX2 kernels compute them: exact integer block sums with byte multiply-adds, float
/// scale products per block. Without AVX2, Q4_0, Q8_0, Q4_K and Q6_K take the 128-bit kernels of
/// <see cref="QuantDot128"/> (SSSE3, AdvSimd) and the other types the scalar reference. Arguments: weight row,
/// activation row, element count (a whole number of blocks).
/// </summary>
internal static unsafe class QuantDot
{
    public static float Q4_0(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q4_0Avx2((BlockQ4_0*)x, (BlockQ8_0*)y, n / 32)
        : QuantDot128.IsSupported ? QuantDot128.Q4_0((BlockQ4_0*)x, (BlockQ8_0*)y, n / 32) : QuantDotReference.Q4_0(x, y, n);
    public static float Q4_1(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q4_1Avx2((BlockQ4_1*)x, (BlockQ8_1*)y, n / 32) : QuantDotReference.Q4_1(x, y, n);
    public static float Q5_0(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q5_0Avx2((BlockQ5_0*)x, (BlockQ8_0*)y, n / 32) : QuantDotReference.Q5_0(x, y, n);
    public static float Q5_1(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q5_1Avx2((BlockQ5_1*)x, (BlockQ8_1*)y, n / 32) : QuantDotReference.Q5_1(x, y, n);
    public static float Q8_0(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q8_0Avx2((BlockQ8_0*)x, (BlockQ8_0*)y, n / 32)
        : QuantDot128.IsSupported ? QuantDot128.Q8_0((BlockQ8_0*)x, (BlockQ8_0*)y, n / 32) : QuantDotReference.Q8_0(x, y, n);
    public static float IQ4_NL(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? IQ4_NLAvx2((BlockIQ4_NL*)x, (BlockQ8_0*)y, n / 32) : QuantDotReference.IQ4_NL(x, y, n);
    public static float Q2_K(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q2_KAvx2((BlockQ2_K*)x, (BlockQ8_K*)y, n / 256) : QuantDotReference.Q2_K(x, y, n);
    public static float Q3_K(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q3_KAvx2((BlockQ3_K*)x, (BlockQ8_K*)y, n / 256) : QuantDotReference.Q3_K(x, y, n);
    public static float Q4_K(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? QuantDot4.Q4_KOne((BlockQ4_K*)x, (BlockQ8_K*)y, n / 256)
        : QuantDot128.IsSupported ? QuantDot128.Q4_K((BlockQ4_K*)x, (BlockQ8_K*)y, n / 256) : QuantDotReference.Q4_K(x, y, n);
    public static float Q5_K(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? Q5_KAvx2((BlockQ5_K*)x, (BlockQ8_K*)y, n / 256) : QuantDotReference.Q5_K(x, y, n);
    public static float Q6_K(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? QuantDot4.Q6_KOne((BlockQ6_K*)x, (BlockQ8_K*)y, n / 256)
        : QuantDot128.IsSupported ? QuantDot128.Q6_K((BlockQ6_K*)x, (BlockQ8_K*)y, n / 256) : QuantDotReference.Q6_K(x, y, n);
    public static float IQ4_XS(byte* x, byte* y, int n) => Simd.UseAvx2Kernels ? IQ4_XSAvx2((BlockIQ4_XS*)x, (BlockQ8_K*)y, n / 256) : QuantDotReference.IQ4_XS(x, y, n);

    private static float Q4_0Avx2(BlockQ4_0* x, BlockQ8_0* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        var eight = Vector256.Create((sbyte)8);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            float d = F16.Lookup(x->D) * F16.Lookup(y->D);
            var qx = Nibbles(x->Qs).AsSByte() - eight;
            var q = Vector256.ConvertToSingle(DotSigned(qx, Vector256.Load(y->Qs)));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), q, acc);
        }
        return Simd.HSum(acc);
    }

    private static float Q8_0Avx2(BlockQ8_0* x, BlockQ8_0* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < nb; i++, x++, y++)
        {
            float d = F16.Lookup(x->D) * F16.Lookup(y->D);
            var q = Vector256.ConvertToSingle(DotSigned(Vector256.Load(x->Qs), Vector256.Load(y->Qs)));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), q, acc);
        }
        return Simd.HSum(acc);
    }

    private static float Q4_1Avx2(BlockQ4_1* x, BlockQ8_1* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        float summs = 0;
        for (int i = 0; i < nb; i++, x++, y++)
        {
            float d = F16.Lookup(x->D) * F16.Lookup(y->D);
            summs += F16.Lookup(x->M) * F16.Lookup(y->S);
            var q = Vector256.ConvertToSingle(DotUnsigned(Nibbles(x->Qs), Vector256.Load(y->Qs)));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), q, acc);
        }
        return Simd.HSum(acc) + summs;
    }

    private static float Q5_0Avx2(BlockQ5_0* x, BlockQ8_0* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        var sixteen = Vector256.Create((sbyte)16);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            float d = F16.Lookup(x->D) * F16.Lookup(y->D);
            var qx = (Nibbles(x->Qs) | HighBits(Unsafe.ReadUnaligned<uint>(x->Qh))).AsSByte() - sixteen;
            var q = Vector256.ConvertToSingle(DotSigned(qx, Vector256.Load(y->Qs)));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), q, acc);
        }
        return Simd.HSum(acc);
    }

    private static float Q5_1Avx2(BlockQ5_1* x, BlockQ8_1* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        float summs = 0;
        for (int i = 0; i < nb; i++, x++, y++)
        {
            float d = F16.Lookup(x->D) * F16.Lookup(y->D);
            summs += F16.Lookup(x->M) * F16.Lookup(y->S);
            var ux = Nibbles(x->Qs) | HighBits(Unsafe.ReadUnaligned<uint>(x->Qh));
            var q = Vector256.ConvertToSingle(DotUnsigned(ux, Vector256.Load(y->Qs)));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), q, acc);
        }
        return Simd.HSum(acc) + summs;
    }

    // ggml's AVX2 order: two blocks per step into two accumulators, added before the final sum.
    private static float IQ4_NLAvx2(BlockIQ4_NL* x, BlockQ8_0* y, int nb)
    {
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var table = IQ4Table();
        int i = 0;
        for (; i + 1 < nb; i += 2)
        {
            acc1 = IQ4NLStep(acc1, table, x + i, y + i);
            acc2 = IQ4NLStep(acc2, table, x + i + 1, y + i + 1);
        }
        float sumf = Simd.HSum(acc1 + acc2);
        var ky = Dequantize.IQ4Values;
        for (; i < nb; i++)
        {
            int s1 = 0, s2 = 0;
            for (int j = 0; j < 16; j++)
            {
                s1 += y[i].Qs[j] * ky[x[i].Qs[j] & 0xF];
                s2 += y[i].Qs[j + 16] * ky[x[i].Qs[j] >> 4];
            }
            sumf += F16.Lookup(y[i].D) * F16.Lookup(x[i].D) * (s1 + s2);
        }
        return sumf;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> IQ4NLStep(Vector256<float> acc, Vector256<sbyte> table, BlockIQ4_NL* x, BlockQ8_0* y)
    {
        var qx = Avx2.Shuffle(table, Nibbles(x->Qs).AsSByte());
        var q = Vector256.ConvertToSingle(DotSigned(qx, Vector256.Load(y->Qs)));
        return Vector256.FusedMultiplyAdd(Vector256.Create(F16.Lookup(y->D) * F16.Lookup(x->D)), q, acc);
    }

    // ggml's AVX2 order: per block, mins (dmin = −d8·dmin) then scales fused into one 8-lane accumulator.
    private static float Q2_KAvx2(BlockQ2_K* x, BlockQ8_K* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        var three = Vector256.Create((byte)3);
        var low = Vector128.Create((byte)0x0F);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            byte* sc = x->Scales;
            float d = y->D * F16.Lookup(x->D);
            float dmin = -y->D * F16.Lookup(x->DMin);
            var mins = Avx2.ConvertToVector256Int16(Vector128.ShiftRightLogical(Vector128.Load(sc).AsUInt16(), 4).AsByte() & low);
            var prod = Avx2.MultiplyAddAdjacent(mins, Vector256.Load(y->BSums));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(dmin), Vector256.ConvertToSingle(prod), acc);
            var sumi = Vector256<int>.Zero;
            sbyte* q8 = y->Qs;
            for (int half = 0; half < 2; half++)
            {
                var q2 = Vector256.Load(x->Qs + 32 * half);
                for (int s = 0; s < 4; s++, q8 += 32)
                {
                    var u = Vector256.ShiftRightLogical(q2.AsUInt16(), 2 * s).AsByte() & three;
                    int j = 8 * half + 2 * s;
                    sumi += ScaledDot(u, Vector256.Load(q8), sc[j] & 0xF, sc[j + 1] & 0xF);
                }
            }
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), Vector256.ConvertToSingle(sumi), acc);
        }
        return Simd.HSum(acc);
    }

    // ggml's AVX2 order: (low bits − 4·!high bit) per lane, scaled, one fused 8-lane accumulator.
    private static float Q3_KAvx2(BlockQ3_K* x, BlockQ8_K* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        var three = Vector256.Create((byte)3);
        var four = Vector256.Create((byte)4);
        int* sc = stackalloc int[16];
        for (int i = 0; i < nb; i++, x++, y++)
        {
            for (int j = 0; j < 16; j++)
                sc[j] = Dequantize.Q3Scale(x->Scales, j);
            var hm = Vector256.Load(x->HMask);
            var sumi = Vector256<int>.Zero;
            sbyte* q8 = y->Qs;
            for (int half = 0; half < 2; half++)
            {
                var q3 = Vector256.Load(x->Qs + 32 * half);
                for (int s = 0; s < 4; s++, q8 += 32)
                {
                    var m = Vector256.Create((byte)(1 << (4 * half + s)));
                    var u = Vector256.ShiftRightLogical(q3.AsUInt16(), 2 * s).AsByte() & three;
                    var n4 = Vector256.AndNot(four, Vector256.Equals(hm & m, m));
                    var qy = Vector256.Load(q8);
                    var p16 = Avx2.MultiplyAddAdjacent(u, qy) - Avx2.MultiplyAddAdjacent(n4, qy);
                    int j = 8 * half + 2 * s;
                    sumi += Avx2.MultiplyAddAdjacent(p16, Vector256.Create(Vector128.Create((short)sc[j]), Vector128.Create((short)sc[j + 1])));
                }
            }
            float d = y->D * F16.Lookup(x->D);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), Vector256.ConvertToSingle(sumi), acc);
        }
        return Simd.HSum(acc);
    }

    // ggml's AVX2 order: scales fused into an 8-lane accumulator, mins summed in float beside it (dmin = −d8·dmin).
    private static float Q5_KAvx2(BlockQ5_K* x, BlockQ8_K* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        float summs = 0;
        var low = Vector256.Create((byte)0x0F);
        var bit4 = Vector256.Create((byte)0x10);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            float d = y->D * F16.Lookup(x->D);
            float dmin = -y->D * F16.Lookup(x->DMin);
            var sumi = Vector256<int>.Zero;
            var hv = Vector256.Load(x->Qh);
            int mins = 0;
            sbyte* q8 = y->Qs;
            for (int k = 0; k < 4; k++, q8 += 64)
            {
                Dequantize.ScaleMinK4(2 * k, x->Scales, out int sc0, out int m0);
                Dequantize.ScaleMinK4(2 * k + 1, x->Scales, out int sc1, out int m1);
                mins += m0 * (y->BSums[4 * k] + y->BSums[4 * k + 1]) + m1 * (y->BSums[4 * k + 2] + y->BSums[4 * k + 3]);
                var q = Vector256.Load(x->Qs + 32 * k);
                var mlo = Vector256.Create((byte)(1 << (2 * k)));
                var mhi = Vector256.Create((byte)(2 << (2 * k)));
                var ulo = (q & low) | (Vector256.Equals(hv & mlo, mlo) & bit4);
                var uhi = (Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low) | (Vector256.Equals(hv & mhi, mhi) & bit4);
                sumi += ScaledDot(ulo, Vector256.Load(q8), sc0, sc0);
                sumi += ScaledDot(uhi, Vector256.Load(q8 + 32), sc1, sc1);
            }
            summs += dmin * mins;
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), Vector256.ConvertToSingle(sumi), acc);
        }
        return Simd.HSum(acc) + summs;
    }

    // ggml's AVX2 order: one fused 8-lane accumulator per 256-block.
    private static float IQ4_XSAvx2(BlockIQ4_XS* x, BlockQ8_K* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        var table = IQ4Table();
        for (int ibl = 0; ibl < nb; ibl++, x++, y++)
        {
            var sumi = Vector256<int>.Zero;
            int h = x->ScalesH;
            for (int ib = 0; ib < 8; ib++)
            {
                int ls = ((x->ScalesL[ib / 2] >> (4 * (ib & 1))) & 0xF) | (((h >> (2 * ib)) & 3) << 4);
                var qx = Avx2.Shuffle(table, Nibbles(x->Qs + 16 * ib).AsSByte());
                var qy = Vector256.Load(y->Qs + 32 * ib);
                var p = Avx2.MultiplyAddAdjacent(Avx2.Sign(qx, qx).AsByte(), Avx2.Sign(qy, qx));
                sumi += Avx2.MultiplyAddAdjacent(p, Vector256.Create((short)(ls - 32)));
            }
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(F16.Lookup(x->D) * y->D), Vector256.ConvertToSingle(sumi), acc);
        }
        return Simd.HSum(acc);
    }

    /// <summary>32 nibbles of 16 bytes as bytes: low nibbles are elements 0–15, high nibbles 16–31 (ggml's order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* qs)
    {
        var b = Vector128.Load(qs);
        var m = Vector128.Create((byte)0x0F);
        return Vector256.Create(b & m, Vector128.ShiftRightLogical(b.AsUInt16(), 4).AsByte() & m);
    }

    /// <summary>Bit j of <paramref name="qh"/> as 0x10 in byte j (the fifth bit of Q5 quants).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> HighBits(uint qh)
    {
        var v = Avx2.Shuffle(Vector256.Create(qh).AsByte(), Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bits = Vector256.Create(0x8040201008040201UL).AsByte();
        return Vector256.Equals(v & bits, bits) & Vector256.Create((byte)0x10);
    }

    /// <summary>Σ x·y over each group of 4 bytes, both signed (ggml's sign trick for vpmaddubsw).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotSigned(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        var p = Avx2.MultiplyAddAdjacent(Avx2.Sign(x, x).AsByte(), Avx2.Sign(y, x));
        return Avx2.MultiplyAddAdjacent(p, Vector256<short>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotUnsigned(Vector256<byte> x, Vector256<sbyte> y) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, y), Vector256<short>.One);

    /// <summary>Σ u·y over 32 bytes, bytes 0–15 weighted by <paramref name="s0"/>, 16–31 by <paramref name="s1"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledDot(Vector256<byte> u, Vector256<sbyte> y, int s0, int s1) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, y),
            Vector256.Create(Vector128.Create((short)s0), Vector128.Create((short)s1)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> IQ4Table() => Vector256.Create(
        (sbyte)-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}
