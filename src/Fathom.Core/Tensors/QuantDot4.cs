using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// One weight row against four activation rows at once (prefill): each weight block is unpacked
/// once and reused four times. Per activation row the arithmetic, order included, is that of the
/// single-row kernel in <see cref="QuantDot"/>, so prefill and decode give identical numbers.
/// Arguments: weight row, first activation row, bytes between activation rows, elements, 4 outputs.
/// </summary>
internal static unsafe class QuantDot4
{
    public static void Q4_0(byte* vx, byte* vy, int stride, int n, float* s)
    {
        var x = (BlockQ4_0*)vx;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        var eight = Vector256.Create((sbyte)8);
        for (int i = 0; i < n / 32; i++, x++)
        {
            float dx = F16.Lookup(x->D);
            var qx = Nibbles(x->Qs).AsSByte() - eight;
            var ax = Avx2.Sign(qx, qx).AsByte();
            var y = (BlockQ8_0*)vy + i;
            Step(ref acc0, dx, ax, qx, y);
            Step(ref acc1, dx, ax, qx, (BlockQ8_0*)((byte*)y + stride));
            Step(ref acc2, dx, ax, qx, (BlockQ8_0*)((byte*)y + 2 * stride));
            Step(ref acc3, dx, ax, qx, (BlockQ8_0*)((byte*)y + 3 * stride));
        }
        s[0] = Simd.HSum(acc0);
        s[1] = Simd.HSum(acc1);
        s[2] = Simd.HSum(acc2);
        s[3] = Simd.HSum(acc3);
    }

    public static void Q8_0(byte* vx, byte* vy, int stride, int n, float* s)
    {
        var x = (BlockQ8_0*)vx;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        for (int i = 0; i < n / 32; i++, x++)
        {
            float dx = F16.Lookup(x->D);
            var qx = Vector256.Load(x->Qs);
            var ax = Avx2.Sign(qx, qx).AsByte();
            var y = (BlockQ8_0*)vy + i;
            Step(ref acc0, dx, ax, qx, y);
            Step(ref acc1, dx, ax, qx, (BlockQ8_0*)((byte*)y + stride));
            Step(ref acc2, dx, ax, qx, (BlockQ8_0*)((byte*)y + 2 * stride));
            Step(ref acc3, dx, ax, qx, (BlockQ8_0*)((byte*)y + 3 * stride));
        }
        s[0] = Simd.HSum(acc0);
        s[1] = Simd.HSum(acc1);
        s[2] = Simd.HSum(acc2);
        s[3] = Simd.HSum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ref Vector256<float> acc, float dx, Vector256<byte> ax, Vector256<sbyte> qx, BlockQ8_0* y)
    {
        float d = dx * F16.Lookup(y->D);
        var p = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(Vector256.Load(y->Qs), qx)), Vector256<short>.One);
        acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), Vector256.ConvertToSingle(p), acc);
    }

    public static void Q4_K(byte* vx, byte* vy, int stride, int n, float* s)
    {
        var x = (BlockQ4_K*)vx;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        var u = stackalloc Vector256<byte>[8];
        byte* sc = stackalloc byte[8];
        for (int i = 0; i < n / 256; i++, x++)
        {
            var mins = UnpackQ4K(x, u, sc);
            float dx = F16.Lookup(x->D), mx = F16.Lookup(x->DMin);
            var y = (BlockQ8_K*)vy + i;
            Q4KRow(ref a0, ref m0, u, sc, mins, dx, mx, y);
            Q4KRow(ref a1, ref m1, u, sc, mins, dx, mx, (BlockQ8_K*)((byte*)y + stride));
            Q4KRow(ref a2, ref m2, u, sc, mins, dx, mx, (BlockQ8_K*)((byte*)y + 2 * stride));
            Q4KRow(ref a3, ref m3, u, sc, mins, dx, mx, (BlockQ8_K*)((byte*)y + 3 * stride));
        }
        s[0] = Simd.HSum(a0) - Simd.HSum(m0);
        s[1] = Simd.HSum(a1) - Simd.HSum(m1);
        s[2] = Simd.HSum(a2) - Simd.HSum(m2);
        s[3] = Simd.HSum(a3) - Simd.HSum(m3);
    }

    /// <summary>The single-row Q4_K kernel: the same steps as <see cref="Q4_K"/> with one accumulator pair.</summary>
    public static float Q4_KOne(BlockQ4_K* x, BlockQ8_K* y, int nb)
    {
        Vector256<float> a = default, m = default;
        var u = stackalloc Vector256<byte>[8];
        byte* sc = stackalloc byte[8];
        for (int i = 0; i < nb; i++, x++, y++)
        {
            var mins = UnpackQ4K(x, u, sc);
            Q4KRow(ref a, ref m, u, sc, mins, F16.Lookup(x->D), F16.Lookup(x->DMin), y);
        }
        return Simd.HSum(a) - Simd.HSum(m);
    }

    // Scales and mins via ggml's 32-bit mask trick; mins come back as 16 shorts (each min twice, one per bsum).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> UnpackQ4K(BlockQ4_K* x, Vector256<byte>* u, byte* sc)
    {
        uint u0 = Unsafe.ReadUnaligned<uint>(x->Scales), u1 = Unsafe.ReadUnaligned<uint>(x->Scales + 4), u2 = Unsafe.ReadUnaligned<uint>(x->Scales + 8);
        *(uint*)sc = u0 & 0x3F3F3F3F;
        *(uint*)(sc + 4) = (u2 & 0x0F0F0F0F) | (((u0 >> 6) & 0x03030303) << 4);
        uint mlo = u1 & 0x3F3F3F3F;
        uint mhi = ((u2 >> 4) & 0x0F0F0F0F) | (((u1 >> 6) & 0x03030303) << 4);
        var mins = Vector128.Create(mlo, mhi, 0, 0).AsByte();
        var low = Vector256.Create((byte)0x0F);
        for (int k = 0; k < 4; k++)
        {
            var q = Vector256.Load(x->Qs + 32 * k);
            u[2 * k] = q & low;
            u[2 * k + 1] = Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low;
        }
        return Avx2.ConvertToVector256Int16(Sse2.UnpackLow(mins, mins));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4KRow(ref Vector256<float> acc, ref Vector256<float> accm, Vector256<byte>* u, byte* sc, Vector256<short> mins, float dx, float mx, BlockQ8_K* y)
    {
        var sumi = Vector256<int>.Zero;
        for (int t = 0; t < 8; t++)
            sumi += ScaledDot(u[t], Vector256.Load(y->Qs + 32 * t), sc[t], sc[t]);
        var msum = Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), mins);
        acc = Vector256.FusedMultiplyAdd(Vector256.Create(dx * y->D), Vector256.ConvertToSingle(sumi), acc);
        accm = Vector256.FusedMultiplyAdd(Vector256.Create(mx * y->D), Vector256.ConvertToSingle(msum), accm);
    }

    public static void Q6_K(byte* vx, byte* vy, int stride, int n, float* s)
    {
        var x = (BlockQ6_K*)vx;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var u = stackalloc Vector256<byte>[8];
        for (int i = 0; i < n / 256; i++, x++)
        {
            var scales = UnpackQ6K(x, u);
            float dx = F16.Lookup(x->D);
            var y = (BlockQ8_K*)vy + i;
            Q6KRow(ref a0, u, x->Scales, scales, dx, y);
            Q6KRow(ref a1, u, x->Scales, scales, dx, (BlockQ8_K*)((byte*)y + stride));
            Q6KRow(ref a2, u, x->Scales, scales, dx, (BlockQ8_K*)((byte*)y + 2 * stride));
            Q6KRow(ref a3, u, x->Scales, scales, dx, (BlockQ8_K*)((byte*)y + 3 * stride));
        }
        s[0] = Simd.HSum(a0);
        s[1] = Simd.HSum(a1);
        s[2] = Simd.HSum(a2);
        s[3] = Simd.HSum(a3);
    }

    /// <summary>The single-row Q6_K kernel: the same steps as <see cref="Q6_K"/> with one accumulator.</summary>
    public static float Q6_KOne(BlockQ6_K* x, BlockQ8_K* y, int nb)
    {
        Vector256<float> a = default;
        var u = stackalloc Vector256<byte>[8];
        for (int i = 0; i < nb; i++, x++, y++)
        {
            var scales = UnpackQ6K(x, u);
            Q6KRow(ref a, u, x->Scales, scales, F16.Lookup(x->D), y);
        }
        return Simd.HSum(a);
    }

    // Quants as unsigned 0..63 (the −32 is folded in through the bsums); scales as 16 shorts.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> UnpackQ6K(BlockQ6_K* x, Vector256<byte>* u)
    {
        var low = Vector256.Create((byte)0x0F);
        var mask30 = Vector256.Create((byte)0x30);
        for (int half = 0; half < 2; half++)
        {
            var qa = Vector256.Load(x->Ql + 64 * half);
            var qb = Vector256.Load(x->Ql + 64 * half + 32);
            var h = Vector256.Load(x->Qh + 32 * half).AsUInt16();
            u[4 * half] = (qa & low) | (Vector256.ShiftLeft(h, 4).AsByte() & mask30);
            u[4 * half + 1] = (qb & low) | (Vector256.ShiftLeft(h, 2).AsByte() & mask30);
            u[4 * half + 2] = (Vector256.ShiftRightLogical(qa.AsUInt16(), 4).AsByte() & low) | (h.AsByte() & mask30);
            u[4 * half + 3] = (Vector256.ShiftRightLogical(qb.AsUInt16(), 4).AsByte() & low) | (Vector256.ShiftRightLogical(h, 2).AsByte() & mask30);
        }
        return Avx2.ConvertToVector256Int16(Vector128.Load(x->Scales));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6KRow(ref Vector256<float> acc, Vector256<byte>* u, sbyte* sc, Vector256<short> scales, float dx, BlockQ8_K* y)
    {
        var sumi = Vector256<int>.Zero;
        for (int g = 0; g < 8; g++)
            sumi += ScaledDot(u[g], Vector256.Load(y->Qs + 32 * g), sc[2 * g], sc[2 * g + 1]);
        var corr = Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), scales);
        acc = Vector256.FusedMultiplyAdd(Vector256.Create(dx * y->D), Vector256.ConvertToSingle(sumi - (corr << 5)), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* qs)
    {
        var b = Vector128.Load(qs);
        var m = Vector128.Create((byte)0x0F);
        return Vector256.Create(b & m, Vector128.ShiftRightLogical(b.AsUInt16(), 4).AsByte() & m);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledDot(Vector256<byte> u, Vector256<sbyte> y, int s0, int s1) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, y),
            Vector256.Create(Vector128.Create((short)s0), Vector128.Create((short)s1)));
}
