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
