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
            float dx = Fp16.ToFloat(x->D);
            var qx = Nibbles(x->Qs).AsSByte() - eight;
            var ax = Avx2.Sign(qx, qx).AsByte();
            var y = (BlockQ8_0*)vy + i;
            Step(ref acc0, dx, ax, qx, y);
            Step(ref acc1, dx, ax, qx, (BlockQ8_0*)((byte*)y + stride));
            Step(ref acc2, dx, ax, qx, (BlockQ8_0*)((byte*)y + 2 * stride));
            Step(ref acc3, dx, ax, qx, (BlockQ8_0*)((byte*)y + 3 * stride));
        }
        s[0] = Vector256.Sum(acc0);
        s[1] = Vector256.Sum(acc1);
        s[2] = Vector256.Sum(acc2);
        s[3] = Vector256.Sum(acc3);
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
            float dx = Fp16.ToFloat(x->D);
            var qx = Vector256.Load(x->Qs);
            var ax = Avx2.Sign(qx, qx).AsByte();
            var y = (BlockQ8_0*)vy + i;
            Step(ref acc0, dx, ax, qx, y);
            Step(ref acc1, dx, ax, qx, (BlockQ8_0*)((byte*)y + stride));
            Step(ref acc2, dx, ax, qx, (BlockQ8_0*)((byte*)y + 2 * stride));
            Step(ref acc3, dx, ax, qx, (BlockQ8_0*)((byte*)y + 3 * stride));
        }
        s[0] = Vector256.Sum(acc0);
        s[1] = Vector256.Sum(acc1);
        s[2] = Vector256.Sum(acc2);
        s[3] = Vector256.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ref Vector256<float> acc, float dx, Vector256<byte> ax, Vector256<sbyte> qx, BlockQ8_0* y)
    {
        float d = dx * Fp16.ToFloat(y->D);
        var p = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(Vector256.Load(y->Qs), qx)), Vector256<short>.One);
        acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), Vector256.ConvertToSingle(p), acc);
    }

    public static void Q4_K(byte* vx, byte* vy, int stride, int n, float* s)
    {
        var x = (BlockQ4_K*)vx;
        var low = Vector256.Create((byte)0x0F);
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int* sc = stackalloc int[8];
        int* mn = stackalloc int[8];
        var u = stackalloc Vector256<byte>[8];
        for (int i = 0; i < n / 256; i++, x++)
        {
            for (int j = 0; j < 8; j++)
                Dequantize.ScaleMinK4(j, x->Scales, out sc[j], out mn[j]);
            for (int k = 0; k < 4; k++)
            {
                var q = Vector256.Load(x->Qs + 32 * k);
                u[2 * k] = q & low;
                u[2 * k + 1] = Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low;
            }
            float dx = Fp16.ToFloat(x->D), mx = Fp16.ToFloat(x->DMin);
            var y = (BlockQ8_K*)vy + i;
            s0 += Q4KRow(u, sc, mn, dx, mx, y);
            s1 += Q4KRow(u, sc, mn, dx, mx, (BlockQ8_K*)((byte*)y + stride));
            s2 += Q4KRow(u, sc, mn, dx, mx, (BlockQ8_K*)((byte*)y + 2 * stride));
            s3 += Q4KRow(u, sc, mn, dx, mx, (BlockQ8_K*)((byte*)y + 3 * stride));
        }
        s[0] = s0;
        s[1] = s1;
        s[2] = s2;
        s[3] = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q4KRow(Vector256<byte>* u, int* sc, int* mn, float dx, float mx, BlockQ8_K* y)
    {
        var sumi = Vector256<int>.Zero;
        int summs = 0;
        for (int k = 0; k < 4; k++)
        {
            summs += mn[2 * k] * (y->BSums[4 * k] + y->BSums[4 * k + 1]) + mn[2 * k + 1] * (y->BSums[4 * k + 2] + y->BSums[4 * k + 3]);
            sumi += ScaledDot(u[2 * k], Vector256.Load(y->Qs + 64 * k), sc[2 * k], sc[2 * k]);
            sumi += ScaledDot(u[2 * k + 1], Vector256.Load(y->Qs + 64 * k + 32), sc[2 * k + 1], sc[2 * k + 1]);
        }
        float d = dx * y->D;
        float dmin = mx * y->D;
        return d * Vector256.Sum(sumi) - dmin * summs;
    }

    public static void Q6_K(byte* vx, byte* vy, int stride, int n, float* s)
    {
        var x = (BlockQ6_K*)vx;
        var low = Vector256.Create((byte)0x0F);
        var mask30 = Vector256.Create((byte)0x30);
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var u = stackalloc Vector256<byte>[8];
        for (int i = 0; i < n / 256; i++, x++)
        {
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
            float dx = Fp16.ToFloat(x->D);
            var y = (BlockQ8_K*)vy + i;
            s0 += Q6KRow(u, x->Scales, dx, y);
            s1 += Q6KRow(u, x->Scales, dx, (BlockQ8_K*)((byte*)y + stride));
            s2 += Q6KRow(u, x->Scales, dx, (BlockQ8_K*)((byte*)y + 2 * stride));
            s3 += Q6KRow(u, x->Scales, dx, (BlockQ8_K*)((byte*)y + 3 * stride));
        }
        s[0] = s0;
        s[1] = s1;
        s[2] = s2;
        s[3] = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q6KRow(Vector256<byte>* u, sbyte* sc, float dx, BlockQ8_K* y)
    {
        int corr = 0;
        for (int j = 0; j < 16; j++)
            corr += sc[j] * y->BSums[j];
        var sumi = Vector256<int>.Zero;
        for (int g = 0; g < 8; g++)
            sumi += ScaledDot(u[g], Vector256.Load(y->Qs + 32 * g), sc[2 * g], sc[2 * g + 1]);
        float d = dx * y->D;
        return d * (Vector256.Sum(sumi) - 32 * corr);
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
