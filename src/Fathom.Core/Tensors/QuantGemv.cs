using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// Decode mat-vec (one activation row): a range of weight rows per call, several rows per pass so
/// each activation block is loaded once for all of them. Every row's result is bit-identical to
/// the single-row kernel of <see cref="QuantDot"/> (ggml's AVX2 order): the integer block sums are
/// exact whatever instructions form them (VNNI vpdpbusd here), and each 8-lane int vector holds the
/// same partial sums in the same lanes before the same float steps.
/// For Q8_0 activations a side table, built once per call, holds each block's scale as float and
/// −k·Σ of every 4 quants, so unsigned weights (nibbles, or Q8_0 + 128) need one vpdpbusd.
/// </summary>
internal static unsafe class QuantGemv
{
    /// <summary>Rows [r0, r1) of w (rowBytes apart) against the activation row act and its side table; y[r] per row.</summary>
    public readonly struct Kernel
    {
        public readonly delegate*<byte*, long, byte*, byte*, int, float*, int, int, void> Rows;
        public readonly delegate*<byte*, byte*, int, void> Prepare;
        public readonly int SideBytesPerBlock;
        public readonly int ActivationBlock;

        public Kernel(delegate*<byte*, long, byte*, byte*, int, float*, int, int, void> rows, delegate*<byte*, byte*, int, void> prepare, int sideBytesPerBlock, int activationBlock)
        {
            Rows = rows;
            Prepare = prepare;
            SideBytesPerBlock = sideBytesPerBlock;
            ActivationBlock = activationBlock;
        }

        public bool IsValid => Rows != null;

        public int SideBytes(int columns) => columns / ActivationBlock * SideBytesPerBlock;
    }

    /// <summary>The decode kernel for weights of <paramref name="type"/> on this machine, or an invalid one (use the per-row dot).</summary>
    public static Kernel For(GgmlType type)
    {
        if (!Simd.UseAvx2Kernels)
            return default;
        return type switch
        {
            GgmlType.Q4_0 => new(&Q4_0Rows, &PrepareQ4_0, 36, 32),
            GgmlType.Q8_0 => new(&Q8_0Rows, &PrepareQ8_0, 36, 32),
            GgmlType.Q4_K => new(&Q4_KRows, null, 0, 256),
            GgmlType.Q6_K => new(&Q6_KRows, null, 0, 256),
            _ => default,
        };
    }

    // Every half as float in native memory: a static readonly pointer is a JIT-time constant, so a scale costs one load.
    private static readonly float* s_half = HalfTable();

    private static float* HalfTable()
    {
        var t = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int i = 0; i < 65536; i++)
            t[i] = F16.ToFloat((ushort)i);
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Half(ushort h) => s_half[h];

    /// <summary>VNNI's vpdpbusd (c + Σ of 4 unsigned×signed byte products per lane); AVX2's two-step form otherwise, exact while no pair exceeds a short.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotBytes(Vector256<int> c, Vector256<byte> u, Vector256<sbyte> y) =>
        AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(c, u, y)
            : c + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, y), Vector256<short>.One);

    /// <summary>acc + Σ of each 2 short products p·s per lane (VNNI vpdpwssd; vpmaddwd + add otherwise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> AddScaled(Vector256<int> acc, Vector256<short> p, Vector256<short> s) =>
        AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(acc, p, s) : acc + Avx2.MultiplyAddAdjacent(p, s);

    // Side table for Q8_0 activations: nb vectors of −k·Σ4 quants (32 bytes each), then nb float scales.
    private static void PrepareQ4_0(byte* act, byte* side, int nb) => PrepareQ8_0Side((BlockQ8_0*)act, side, nb, 8);

    private static void PrepareQ8_0(byte* act, byte* side, int nb) => PrepareQ8_0Side((BlockQ8_0*)act, side, nb, 128);

    private static void PrepareQ8_0Side(BlockQ8_0* y, byte* side, int nb, int k)
    {
        var c = (Vector256<int>*)side;
        var d = (float*)(side + 32 * nb);
        var minusK = Vector256.Create(-k);
        for (int i = 0; i < nb; i++, y++)
        {
            var qy = Vector256.Load(y->Qs);
            var ones = Vector256.Create((byte)1);
            var s4 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ones, qy), Vector256<short>.One);
            Vector256.Store(s4 * minusK, (int*)(c + i));
            d[i] = Half(y->D);
        }
    }

    // ---- Q4_0: u = nibbles (0..15); Σ(u − 8)·y = dpbusd(−8·Σ4 y, u, y).

    private static void Q4_0Rows(byte* w, long rowBytes, byte* act, byte* side, int cols, float* y, int r0, int r1)
    {
        int nb = cols / 32;
        var c = (Vector256<int>*)side;
        var d = (float*)(side + 32 * nb);
        var shift = Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4);
        var low = Vector256.Create((byte)0x0F);
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            var x0 = (BlockQ4_0*)(w + r * rowBytes);
            var x1 = (BlockQ4_0*)((byte*)x0 + rowBytes);
            var x2 = (BlockQ4_0*)((byte*)x1 + rowBytes);
            var x3 = (BlockQ4_0*)((byte*)x2 + rowBytes);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            var yb = (BlockQ8_0*)act;
            for (int i = 0; i < nb; i++, yb++)
            {
                // The next four rows, about a line per four 18-byte blocks.
                if ((i & 3) == 0)
                    Simd.PrefetchFourRows((byte*)(x3 + i) + rowBytes, rowBytes);
                var qy = Vector256.Load(yb->Qs);
                var ci = Vector256.Load((int*)(c + i));
                float dy = d[i];
                a0 = Q4_0Step(a0, x0 + i, qy, ci, dy, shift, low);
                a1 = Q4_0Step(a1, x1 + i, qy, ci, dy, shift, low);
                a2 = Q4_0Step(a2, x2 + i, qy, ci, dy, shift, low);
                a3 = Q4_0Step(a3, x3 + i, qy, ci, dy, shift, low);
            }
            y[r] = Simd.HSum(a0);
            y[r + 1] = Simd.HSum(a1);
            y[r + 2] = Simd.HSum(a2);
            y[r + 3] = Simd.HSum(a3);
        }
        for (; r < r1; r++)
        {
            var x0 = (BlockQ4_0*)(w + r * rowBytes);
            Vector256<float> a0 = default;
            var yb = (BlockQ8_0*)act;
            for (int i = 0; i < nb; i++, yb++)
                a0 = Q4_0Step(a0, x0 + i, Vector256.Load(yb->Qs), Vector256.Load((int*)(c + i)), d[i], shift, low);
            y[r] = Simd.HSum(a0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Q4_0Step(Vector256<float> acc, BlockQ4_0* x, Vector256<sbyte> qy, Vector256<int> c, float dy, Vector256<uint> shift, Vector256<byte> low)
    {
        // Both 128-bit halves hold the 16 bytes; the upper half shifted by 4 gives the high nibbles (elements 16–31).
        var b = Avx2.BroadcastVector128ToVector256(x->Qs).AsUInt32();
        var u = Avx2.ShiftRightLogicalVariable(b, shift).AsByte() & low;
        var q = Vector256.ConvertToSingle(DotBytes(c, u, qy));
        return Vector256.FusedMultiplyAdd(Vector256.Create(Half(x->D) * dy), q, acc);
    }

    // ---- Q8_0: u = x + 128 (x ^ 0x80); Σx·y = dpbusd(−128·Σ4 y, u, y). Without VNNI the sign trick (no overflow).

    private static void Q8_0Rows(byte* w, long rowBytes, byte* act, byte* side, int cols, float* y, int r0, int r1)
    {
        int nb = cols / 32;
        var c = (Vector256<int>*)side;
        var d = (float*)(side + 32 * nb);
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            var x0 = (BlockQ8_0*)(w + r * rowBytes);
            var x1 = (BlockQ8_0*)((byte*)x0 + rowBytes);
            var x2 = (BlockQ8_0*)((byte*)x1 + rowBytes);
            var x3 = (BlockQ8_0*)((byte*)x2 + rowBytes);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            var yb = (BlockQ8_0*)act;
            for (int i = 0; i < nb; i++, yb++)
            {
                // The next four rows, about a line per two 34-byte blocks (2048 columns: 2.2 KB rows).
                if ((i & 1) == 0)
                    Simd.PrefetchFourRows((byte*)(x3 + i) + rowBytes, rowBytes);
                var qy = Vector256.Load(yb->Qs);
                var ci = Vector256.Load((int*)(c + i));
                float dy = d[i];
                a0 = Q8_0Step(a0, x0 + i, qy, ci, dy);
                a1 = Q8_0Step(a1, x1 + i, qy, ci, dy);
                a2 = Q8_0Step(a2, x2 + i, qy, ci, dy);
                a3 = Q8_0Step(a3, x3 + i, qy, ci, dy);
            }
            y[r] = Simd.HSum(a0);
            y[r + 1] = Simd.HSum(a1);
            y[r + 2] = Simd.HSum(a2);
            y[r + 3] = Simd.HSum(a3);
        }
        for (; r < r1; r++)
        {
            var x0 = (BlockQ8_0*)(w + r * rowBytes);
            Vector256<float> a0 = default;
            var yb = (BlockQ8_0*)act;
            for (int i = 0; i < nb; i++, yb++)
                a0 = Q8_0Step(a0, x0 + i, Vector256.Load(yb->Qs), Vector256.Load((int*)(c + i)), d[i]);
            y[r] = Simd.HSum(a0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Q8_0Step(Vector256<float> acc, BlockQ8_0* x, Vector256<sbyte> qy, Vector256<int> c, float dy)
    {
        var qx = Vector256.Load(x->Qs);
        Vector256<int> s;
        if (AvxVnni.IsSupported)
            s = AvxVnni.MultiplyWideningAndAdd(c, (qx.AsByte() ^ Vector256.Create((byte)0x80)), qy);
        else
            s = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Sign(qx, qx).AsByte(), Avx2.Sign(qy, qx)), Vector256<short>.One);
        return Vector256.FusedMultiplyAdd(Vector256.Create(Half(x->D) * dy), Vector256.ConvertToSingle(s), acc);
    }

    // ---- Q4_K: the lanes of QuantDot4.Q4_KOne (ggml's AVX2 order), scale vectors by byte shuffle.

    private static void Q4_KRows(byte* w, long rowBytes, byte* act, byte* side, int cols, float* y, int r0, int r1)
    {
        int nb = cols / 256;
        for (int r = r0; r < r1; r++)
            y[r] = Q4_KRow((BlockQ4_K*)(w + r * rowBytes), (BlockQ8_K*)act, nb);
    }

    private static float Q4_KRow(BlockQ4_K* x, BlockQ8_K* y, int nb)
    {
        Vector256<float> acc = default, accm = default;
        var low = Vector256.Create((byte)0x0F);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            uint u0 = Unsafe.ReadUnaligned<uint>(x->Scales), u1 = Unsafe.ReadUnaligned<uint>(x->Scales + 4), u2 = Unsafe.ReadUnaligned<uint>(x->Scales + 8);
            uint s0 = u0 & 0x3F3F3F3F;
            uint s1 = (u2 & 0x0F0F0F0F) | (((u0 >> 6) & 0x03030303) << 4);
            uint mlo = u1 & 0x3F3F3F3F;
            uint mhi = ((u2 >> 4) & 0x0F0F0F0F) | (((u1 >> 6) & 0x03030303) << 4);
            var mins = Vector128.Create(mlo, mhi, 0, 0).AsByte();
            // 8 scales as shorts in both 128-bit halves: one vpshufb broadcasts scale t to every lane.
            var sc = Avx2.ConvertToVector256Int16(Vector128.Create(s0, s1, s0, s1).AsByte()).AsByte();
            var sumi = Vector256<int>.Zero;
            sbyte* q8 = y->Qs;
            for (int k = 0; k < 4; k++, q8 += 64)
            {
                var q = Vector256.Load(x->Qs + 32 * k);
                var lo = q & low;
                var hi = Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low;
                sumi = AddScaled(sumi, Avx2.MultiplyAddAdjacent(lo, Vector256.Load(q8)), Avx2.Shuffle(sc, ScaleMask(2 * k)).AsInt16());
                sumi = AddScaled(sumi, Avx2.MultiplyAddAdjacent(hi, Vector256.Load(q8 + 32)), Avx2.Shuffle(sc, ScaleMask(2 * k + 1)).AsInt16());
            }
            var m16 = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(mins, mins));
            var msum = Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), m16);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(Half(x->D) * y->D), Vector256.ConvertToSingle(sumi), acc);
            accm = Vector256.FusedMultiplyAdd(Vector256.Create(Half(x->DMin) * y->D), Vector256.ConvertToSingle(msum), accm);
        }
        return Simd.HSum(acc) - Simd.HSum(accm);
    }

    /// <summary>vpshufb mask repeating short <paramref name="t"/> of each 128-bit half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> ScaleMask(int t) => Vector256.Create((ushort)(0x0100 * (2 * t + 1) + 2 * t)).AsByte();

    // ---- Q6_K: the lanes of QuantDot4.Q6_KOne; group g weights bytes 0–15 by scale 2g and 16–31 by 2g+1.

    private static void Q6_KRows(byte* w, long rowBytes, byte* act, byte* side, int cols, float* y, int r0, int r1)
    {
        int nb = cols / 256;
        for (int r = r0; r < r1; r++)
        {
            if (Sse.IsSupported)
            {
                // The row after next (a row of 2048 columns is 1.7 KB: short for the hardware prefetchers).
                byte* next = w + (r + 2) * rowBytes;
                for (long b = 0; b < rowBytes; b += 64)
                    Sse.Prefetch0(next + b);
            }
            y[r] = Q6_KRow((BlockQ6_K*)(w + r * rowBytes), (BlockQ8_K*)act, nb);
        }
    }

    private static float Q6_KRow(BlockQ6_K* x, BlockQ8_K* y, int nb)
    {
        Vector256<float> acc = default;
        var low = Vector256.Create((byte)0x0F);
        var mask30 = Vector256.Create((byte)0x30);
        for (int i = 0; i < nb; i++, x++, y++)
        {
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(x->Scales));
            // Scales 0–7 (groups 0–3) and 8–15 (groups 4–7) each copied to both halves.
            var scLo = Avx2.Permute2x128(scales, scales, 0x00).AsByte();
            var scHi = Avx2.Permute2x128(scales, scales, 0x11).AsByte();
            var sumi = Vector256<int>.Zero;
            sbyte* q8 = y->Qs;
            for (int half = 0; half < 2; half++, q8 += 128)
            {
                var qa = Vector256.Load(x->Ql + 64 * half);
                var qb = Vector256.Load(x->Ql + 64 * half + 32);
                var h = Vector256.Load(x->Qh + 32 * half).AsUInt16();
                var sc = half == 0 ? scLo : scHi;
                var u0 = (qa & low) | (Vector256.ShiftLeft(h, 4).AsByte() & mask30);
                var u1 = (qb & low) | (Vector256.ShiftLeft(h, 2).AsByte() & mask30);
                var u2 = (Vector256.ShiftRightLogical(qa.AsUInt16(), 4).AsByte() & low) | (h.AsByte() & mask30);
                var u3 = (Vector256.ShiftRightLogical(qb.AsUInt16(), 4).AsByte() & low) | (Vector256.ShiftRightLogical(h, 2).AsByte() & mask30);
                sumi = AddScaled(sumi, Avx2.MultiplyAddAdjacent(u0, Vector256.Load(q8)), Avx2.Shuffle(sc, PairMask(0)).AsInt16());
                sumi = AddScaled(sumi, Avx2.MultiplyAddAdjacent(u1, Vector256.Load(q8 + 32)), Avx2.Shuffle(sc, PairMask(1)).AsInt16());
                sumi = AddScaled(sumi, Avx2.MultiplyAddAdjacent(u2, Vector256.Load(q8 + 64)), Avx2.Shuffle(sc, PairMask(2)).AsInt16());
                sumi = AddScaled(sumi, Avx2.MultiplyAddAdjacent(u3, Vector256.Load(q8 + 96)), Avx2.Shuffle(sc, PairMask(3)).AsInt16());
            }
            var corr = Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), scales);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(Half(x->D) * y->D), Vector256.ConvertToSingle(sumi - (corr << 5)), acc);
        }
        return Simd.HSum(acc);
    }

    /// <summary>vpshufb mask: short 2j of the half in the low 128 bits, short 2j+1 in the high 128 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> PairMask(int j) => Vector256.Create(
        Vector128.Create((ushort)(0x0100 * (4 * j + 1) + 4 * j)).AsByte(),
        Vector128.Create((ushort)(0x0100 * (4 * j + 3) + 4 * j + 2)).AsByte());
}
