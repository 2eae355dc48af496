using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// 128-bit dots for machines without AVX2 (SSSE3 on x86, AdvSimd on Arm): each 32-block's eight
/// 4-byte sums sit in two 4-lane halves, the lanes of the AVX2 kernel, with two 4-lane float
/// accumulators folded as ggml's hsum_float_8 folds its 8 lanes, so the result is the AVX2 result.
/// </summary>
internal static unsafe class QuantDot128
{
    /// <summary>True when this machine runs these kernels (x86 SSSE3 or Arm AdvSimd).</summary>
    public static bool IsSupported
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector128.IsHardwareAccelerated && (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported);
    }

    public static float Q4_0(BlockQ4_0* x, BlockQ8_0* y, int nb)
    {
        Vector128<float> lo = default, hi = default;
        var low = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((sbyte)8);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            var b = Vector128.Load(x->Qs);
            var qlo = (b & low).AsSByte() - eight;
            var qhi = (Vector128.ShiftRightLogical(b.AsUInt16(), 4).AsByte() & low).AsSByte() - eight;
            var d = Vector128.Create(F16.Lookup(x->D) * F16.Lookup(y->D));
            lo = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(Sum4(qlo, Vector128.Load(y->Qs))), lo);
            hi = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(Sum4(qhi, Vector128.Load(y->Qs + 16))), hi);
        }
        return HSum(lo, hi);
    }

    public static float Q8_0(BlockQ8_0* x, BlockQ8_0* y, int nb)
    {
        Vector128<float> lo = default, hi = default;
        for (int i = 0; i < nb; i++, x++, y++)
        {
            var d = Vector128.Create(F16.Lookup(x->D) * F16.Lookup(y->D));
            lo = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(Sum4(Vector128.Load(x->Qs), Vector128.Load(y->Qs))), lo);
            hi = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(Sum4(Vector128.Load(x->Qs + 16), Vector128.Load(y->Qs + 16))), hi);
        }
        return HSum(lo, hi);
    }

    // Q4_K as QuantDot4.Q4_KOne: per 256-block, sub-block t (32 quants) scaled by sc[t]; mins through the bsums.
    public static float Q4_K(BlockQ4_K* x, BlockQ8_K* y, int nb)
    {
        Vector128<float> lo = default, hi = default, mlo = default, mhi = default;
        var low = Vector128.Create((byte)0x0F);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            uint u0 = Unsafe.ReadUnaligned<uint>(x->Scales), u1 = Unsafe.ReadUnaligned<uint>(x->Scales + 4), u2 = Unsafe.ReadUnaligned<uint>(x->Scales + 8);
            ulong sc = (u0 & 0x3F3F3F3F) | ((ulong)((u2 & 0x0F0F0F0F) | (((u0 >> 6) & 0x03030303) << 4)) << 32);
            var mins = Vector128.Create(u1 & 0x3F3F3F3F, ((u2 >> 4) & 0x0F0F0F0F) | (((u1 >> 6) & 0x03030303) << 4), 0, 0).AsByte();
            Vector128<int> slo = default, shi = default;
            sbyte* q8 = y->Qs;
            for (int k = 0; k < 4; k++, q8 += 64)
            {
                var qa = Vector128.Load(x->Qs + 32 * k);
                var qb = Vector128.Load(x->Qs + 32 * k + 16);
                var s0 = Vector128.Create((short)((sc >> (16 * k)) & 0xFF));
                var s1 = Vector128.Create((short)((sc >> (16 * k + 8)) & 0xFF));
                slo += Madd(MaddUbs(qa & low, Vector128.Load(q8)), s0);
                shi += Madd(MaddUbs(qb & low, Vector128.Load(q8 + 16)), s0);
                slo += Madd(MaddUbs(Vector128.ShiftRightLogical(qa.AsUInt16(), 4).AsByte() & low, Vector128.Load(q8 + 32)), s1);
                shi += Madd(MaddUbs(Vector128.ShiftRightLogical(qb.AsUInt16(), 4).AsByte() & low, Vector128.Load(q8 + 48)), s1);
            }
            var m2 = Interleave(mins);
            var ms0 = Madd(Vector128.Load(y->BSums), Vector128.WidenLower(m2).AsInt16());
            var ms1 = Madd(Vector128.Load(y->BSums + 8), Vector128.WidenUpper(m2).AsInt16());
            var d = Vector128.Create(F16.Lookup(x->D) * y->D);
            var dm = Vector128.Create(F16.Lookup(x->DMin) * y->D);
            lo = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(slo), lo);
            hi = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(shi), hi);
            mlo = Vector128.FusedMultiplyAdd(dm, Vector128.ConvertToSingle(ms0), mlo);
            mhi = Vector128.FusedMultiplyAdd(dm, Vector128.ConvertToSingle(ms1), mhi);
        }
        return HSum(lo, hi) - HSum(mlo, mhi);
    }

    // Q6_K as QuantDot4.Q6_KOne: unsigned 6-bit quants, the −32 folded in through the bsums.
    public static float Q6_K(BlockQ6_K* x, BlockQ8_K* y, int nb)
    {
        Vector128<float> lo = default, hi = default;
        var low = Vector128.Create((byte)0x0F);
        var mask30 = Vector128.Create((byte)0x30);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            Vector128<int> slo = default, shi = default;
            sbyte* sc = x->Scales;
            sbyte* q8 = y->Qs;
            for (int half = 0; half < 2; half++, q8 += 128, sc += 8)
            {
                for (int part = 0; part < 2; part++)
                {
                    // part 0: bytes 0–15 of each 32-byte group (lanes 0–3), part 1: bytes 16–31 (lanes 4–7).
                    int o = 16 * part;
                    var qa = Vector128.Load(x->Ql + 64 * half + o);
                    var qb = Vector128.Load(x->Ql + 64 * half + 32 + o);
                    var h = Vector128.Load(x->Qh + 32 * half + o).AsUInt16();
                    var u0 = (qa & low) | (Vector128.ShiftLeft(h, 4).AsByte() & mask30);
                    var u1 = (qb & low) | (Vector128.ShiftLeft(h, 2).AsByte() & mask30);
                    var u2 = (Vector128.ShiftRightLogical(qa.AsUInt16(), 4).AsByte() & low) | (h.AsByte() & mask30);
                    var u3 = (Vector128.ShiftRightLogical(qb.AsUInt16(), 4).AsByte() & low) | (Vector128.ShiftRightLogical(h, 2).AsByte() & mask30);
                    var s = Madd(MaddUbs(u0, Vector128.Load(q8 + o)), Vector128.Create((short)sc[part]))
                        + Madd(MaddUbs(u1, Vector128.Load(q8 + 32 + o)), Vector128.Create((short)sc[2 + part]))
                        + Madd(MaddUbs(u2, Vector128.Load(q8 + 64 + o)), Vector128.Create((short)sc[4 + part]))
                        + Madd(MaddUbs(u3, Vector128.Load(q8 + 96 + o)), Vector128.Create((short)sc[6 + part]));
                    if (part == 0)
                        slo += s;
                    else
                        shi += s;
                }
            }
            var scales = Vector128.Load(x->Scales);
            var c0 = Madd(Vector128.Load(y->BSums), Vector128.WidenLower(scales));
            var c1 = Madd(Vector128.Load(y->BSums + 8), Vector128.WidenUpper(scales));
            var d = Vector128.Create(F16.Lookup(x->D) * y->D);
            lo = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(slo - (c0 << 5)), lo);
            hi = Vector128.FusedMultiplyAdd(d, Vector128.ConvertToSingle(shi - (c1 << 5)), hi);
        }
        return HSum(lo, hi);
    }

    /// <summary>Bytes b0..b7 as b0 b0 b1 b1 … b7 b7 (punpcklbw of a vector with itself).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Interleave(Vector128<byte> b) =>
        Vector128.Shuffle(b, Vector128.Create((byte)0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));

    /// <summary>pmaddubsw: short k = u[2k]·y[2k] + u[2k+1]·y[2k+1] (unsigned × signed; callers keep it below saturation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> MaddUbs(Vector128<byte> u, Vector128<sbyte> y)
    {
        if (Ssse3.IsSupported)
            return Ssse3.MultiplyAddAdjacent(u, y);
        var pl = Vector128.WidenLower(u).AsInt16() * Vector128.WidenLower(y);
        var ph = Vector128.WidenUpper(u).AsInt16() * Vector128.WidenUpper(y);
        return AdvSimd.Arm64.AddPairwise(pl, ph);
    }

    /// <summary>pmaddwd: int k = p[2k]·s[2k] + p[2k+1]·s[2k+1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Madd(Vector128<short> p, Vector128<short> s)
    {
        if (Sse2.IsSupported)
            return Sse2.MultiplyAddAdjacent(p, s);
        return AdvSimd.Arm64.AddPairwise(AdvSimd.MultiplyWideningLower(p.GetLower(), s.GetLower()), AdvSimd.MultiplyWideningUpper(p, s));
    }

    /// <summary>Lane k = Σ x[j]·y[j] over bytes 4k..4k+3, both signed (|x| ≤ 127 or x = −128 with |y| ≤ 127: no short overflow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Sum4(Vector128<sbyte> x, Vector128<sbyte> y)
    {
        if (Ssse3.IsSupported)
        {
            var p = Ssse3.MultiplyAddAdjacent(Ssse3.Abs(x), Ssse3.Sign(y, x));
            return Sse2.MultiplyAddAdjacent(p, Vector128<short>.One);
        }
        if (Dp.IsSupported)
            return Dp.DotProduct(Vector128<int>.Zero, x, y);
        if (AdvSimd.Arm64.IsSupported)
        {
            var pl = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningLower(x.GetLower(), y.GetLower()));
            var ph = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningUpper(x, y));
            return AdvSimd.Arm64.AddPairwise(pl, ph);
        }
        throw new PlatformNotSupportedException();
    }

    /// <summary>ggml's hsum_float_8 of the 8 lanes (lo = lanes 0–3, hi = lanes 4–7): r = lo + hi, then (r0 + r2) + (r1 + r3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HSum(Vector128<float> lo, Vector128<float> hi)
    {
        var r = lo + hi;
        return (r.GetElement(0) + r.GetElement(2)) + (r.GetElement(1) + r.GetElement(3));
    }
}
