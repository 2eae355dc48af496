using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Gguf;
using Fathom.Tensors.Quants;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Decode mat-vec over a <see cref="PackedWeight"/>: each 32-bit lane of a 256-bit vector is one weight row,
/// so a block of 8 rows is 4 (Q4_0) or 32 (Q4_K) plain loads, one broadcast activation quad feeds 8 rows per
/// vpdpbusd, and no horizontal sum is left at the end. The order is <see cref="GemmReference"/>'s (llama.cpp's
/// repacked GEMV: Q4_0 one FMA per block, Q4_K one per super-block plus a mins chain), so a row's result is the
/// bits <see cref="Gemm"/> gives it inside a batch (Q4_0 always; Q4_K outside whole 4-row groups).
/// Two groups (16 rows) per pass share every activation broadcast.
/// </summary>
internal static unsafe class PackedGemv
{
    private const int GroupsPerTile = 2;

    [ThreadStatic] private static byte[]? t_row;

    /// <summary>Bytes of side table <see cref="Run"/> needs after the activation row.</summary>
    public static int SideBytes(PackedWeight w) => w.Type == GgmlType.Q4_0 ? w.Columns / 32 * 8 : 0;

    /// <summary>y = W·x for the activation row act (Q8_0 or Q8_K, already quantized); side: <see cref="SideBytes"/> of scratch.</summary>
    public static void Run(PackedWeight w, byte* act, byte* side, float* y, WorkerPool? pool)
    {
        int groups = w.Rows / PackedWeight.GroupRows;
        if (w.Type == GgmlType.Q4_0)
            PrepareQ4_0((BlockQ8_0*)act, side, w.Columns / 32);
        var body = new Body { W = w.Data, Type = w.Type, Columns = w.Columns, Groups = groups, Act = act, Side = side, Y = y, Simd = Simd.UseAvx2Kernels, Packed = w };
        int tiles = (groups + GroupsPerTile - 1) / GroupsPerTile;
        if (pool is null || pool.ThreadCount == 1)
            body.Invoke(0, tiles);
        else
            pool.For(tiles, ref body, Math.Max(1, tiles / (pool.ThreadCount * 8)));
    }

    private struct Body : IParallelBody
    {
        public byte* W, Act, Side;
        public float* Y;
        public GgmlType Type;
        public int Columns, Groups;
        public bool Simd;
        public PackedWeight Packed;

        public readonly void Invoke(int start, int end)
        {
            int g0 = start * GroupsPerTile, g1 = Math.Min(Groups, end * GroupsPerTile);
            if (!Simd)
                Reference(Packed, Act, Y, g0 * PackedWeight.GroupRows, g1 * PackedWeight.GroupRows);
            else if (Type == GgmlType.Q4_0)
                Q4_0Groups(W, Columns / 32, Act, Side, Y, g0, g1);
            else
                Q4_KGroups(W, Columns / 256, Act, Y, g0, g1);
        }
    }

    /// <summary>Scalar statement: each row unpacked and summed by <see cref="GemmReference"/> (GEMV order); rows [r0, r1).</summary>
    public static void Reference(PackedWeight w, byte* act, float* y, int r0, int r1)
    {
        int rowBytes = checked((int)GgmlTypeInfo.RowSize(w.Type, w.Columns));
        byte[] buf = t_row is { } b && b.Length >= rowBytes ? b : (t_row = GC.AllocateUninitializedArray<byte>(rowBytes, pinned: true));
        fixed (byte* row = buf)
        {
            for (int r = r0; r < r1; r++)
            {
                w.UnpackRow(r, row);
                y[r] = w.Type == GgmlType.Q4_0 ? GemmReference.Q4_0(row, act, w.Columns) : GemmReference.Q4_K(row, act, w.Columns, gemm4: false);
            }
        }
    }

    /// <summary>
    /// The row-range kernel for <paramref name="w"/> in <see cref="QuantGemv.Kernel"/>'s shape, so the fused decode loop
    /// (<see cref="Kernels.TryMatVecFused"/>) can hand out its 16-row tiles; the weight pointer passed must be <see cref="PackedWeight.Data"/>.
    /// Invalid where the SIMD kernels do not run (the reference needs the <see cref="PackedWeight"/> itself).
    /// </summary>
    public static QuantGemv.Kernel Kernel(PackedWeight w)
    {
        if (!Simd.UseAvx2Kernels)
            return default;
        return w.Type == GgmlType.Q4_0
            ? new QuantGemv.Kernel(&Q4_0Rows, &PrepareQ4_0Side, 8, 32)
            : new QuantGemv.Kernel(&Q4_KRows, null, 0, 256);
    }

    private static void Q4_0Rows(byte* w, long rowBytes, byte* act, byte* side, int cols, float* y, int r0, int r1) =>
        Q4_0Groups(w, cols / 32, act, side, y, r0 / PackedWeight.GroupRows, r1 / PackedWeight.GroupRows);

    private static void Q4_KRows(byte* w, long rowBytes, byte* act, byte* side, int cols, float* y, int r0, int r1) =>
        Q4_KGroups(w, cols / 256, act, y, r0 / PackedWeight.GroupRows, r1 / PackedWeight.GroupRows);

    private static void PrepareQ4_0Side(byte* act, byte* side, int nb) => PrepareQ4_0((BlockQ8_0*)act, side, nb);

    // Per activation block: −8·Σq (Q4_0's offset, folded into the integer sum) and the scale as float.
    private static void PrepareQ4_0(BlockQ8_0* a, byte* side, int nb)
    {
        var off = (int*)side;
        var d = (float*)(side + 4 * nb);
        for (int b = 0; b < nb; b++, a++)
        {
            int s = 0;
            for (int i = 0; i < 32; i++)
                s += a->Qs[i];
            off[b] = -8 * s;
            d[b] = F16.Lookup(a->D);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Quad(sbyte* p) => Vector256.Create(Unsafe.ReadUnaligned<int>(p)).AsSByte();

    /// <summary>vpdpbusd where AVX-VNNI runs; the exact vpmaddubsw + vpmaddwd pair otherwise (nibble × byte pairs fit a short).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotBytes(Vector256<int> c, Vector256<byte> u, Vector256<sbyte> y) =>
        AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(c, u, y)
            : c + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, y), Vector256<short>.One);

    /// <summary>8 f16 values to float, exactly (subnormals by the 2^112 multiply; Inf/NaN keep an all-ones exponent).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Halves(byte* p)
    {
        var h = Avx2.ConvertToVector256Int32((ushort*)p).AsUInt32();
        var mag = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13).AsSingle() * Vector256.Create(BitConverter.Int32BitsToSingle(0x77800000));
        var special = Vector256.Equals(h & Vector256.Create(0x7C00u), Vector256.Create(0x7C00u)) & Vector256.Create(0x7F800000u);
        return (mag.AsUInt32() | special | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    // ---- Q4_0

    private static void Q4_0Groups(byte* w, int nb, byte* act, byte* side, float* y, int g0, int g1)
    {
        const int gb = 144;
        var off = (int*)side;
        var dys = (float*)(side + 4 * nb);
        var low = Vector256.Create((byte)0x0F);
        for (int g = g0; g < g1; g += 2)
        {
            bool two = g + 1 < g1;
            byte* x0 = w + (long)g * nb * gb;
            byte* x1 = two ? x0 + (long)nb * gb : x0;
            Vector256<float> a0 = default, a1 = default;
            var yb = (BlockQ8_0*)act;
            long ahead = 2L * nb * gb;
            for (int b = 0; b < nb; b++, yb++, x0 += gb, x1 += gb)
            {
                if (Sse.IsSupported)
                {
                    // The next pass's two groups at this block (a hint past the matrix never faults): short
                    // groups end before the hardware prefetchers have ramped up on them.
                    Sse.Prefetch0(x0 + ahead);
                    Sse.Prefetch0(x0 + ahead + 128);
                    Sse.Prefetch0(x1 + ahead);
                    Sse.Prefetch0(x1 + ahead + 128);
                }
                sbyte* q = yb->Qs;
                var s0 = Vector256.Create(off[b]);
                var s1 = s0;
                for (int c = 0; c < 4; c++)
                {
                    var yl = Quad(q + 4 * c);
                    var yh = Quad(q + 16 + 4 * c);
                    var r0 = Vector256.Load(x0 + 16 + 32 * c);
                    var r1 = Vector256.Load(x1 + 16 + 32 * c);
                    s0 = DotBytes(s0, r0 & low, yl);
                    s1 = DotBytes(s1, r1 & low, yl);
                    s0 = DotBytes(s0, Vector256.ShiftRightLogical(r0.AsUInt16(), 4).AsByte() & low, yh);
                    s1 = DotBytes(s1, Vector256.ShiftRightLogical(r1.AsUInt16(), 4).AsByte() & low, yh);
                }
                var dy = Vector256.Create(dys[b]);
                a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(s0), Halves(x0) * dy, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(s1), Halves(x1) * dy, a1);
            }
            a0.Store(y + g * 8);
            if (two)
                a1.Store(y + g * 8 + 8);
        }
    }

    // ---- Q4_K

    private static void Q4_KGroups(byte* w, int nb, byte* act, float* y, int g0, int g1)
    {
        const int gb = 1152;
        var low = Vector256.Create((byte)0x0F);
        for (int g = g0; g < g1; g += 2)
        {
            bool two = g + 1 < g1;
            byte* x0 = w + (long)g * nb * gb;
            byte* x1 = two ? x0 + (long)nb * gb : x0;
            Vector256<float> a0 = default, a1 = default, m0 = default, m1 = default;
            var yb = (BlockQ8_K*)act;
            long ahead = 2L * nb * gb;
            for (int b = 0; b < nb; b++, yb++, x0 += gb, x1 += gb)
            {
                sbyte* q = yb->Qs;
                var sc0 = Scales(x0, out var mn0);
                var sc1 = Scales(x1, out var mn1);
                Vector256<int> i0 = default, i1 = default;
                for (int k = 0; k < 4; k++)
                {
                    if (Sse.IsSupported)
                    {
                        // As in Q4_0Groups: a quarter of the next pass's block (288 bytes) per step, both groups.
                        for (int line = 0; line < 288; line += 64)
                        {
                            Sse.Prefetch0(x0 + ahead + 288 * k + line);
                            Sse.Prefetch0(x1 + ahead + 288 * k + line);
                        }
                    }
                    Vector256<int> l0 = default, h0 = default, l1 = default, h1 = default;
                    byte* c0 = x0 + 128 + 256 * k, c1 = x1 + 128 + 256 * k;
                    sbyte* qk = q + 64 * k;
                    for (int c = 0; c < 8; c++)
                    {
                        var yl = Quad(qk + 4 * c);
                        var yh = Quad(qk + 32 + 4 * c);
                        var r0 = Vector256.Load(c0 + 32 * c);
                        var r1 = Vector256.Load(c1 + 32 * c);
                        l0 = DotBytes(l0, r0 & low, yl);
                        l1 = DotBytes(l1, r1 & low, yl);
                        h0 = DotBytes(h0, Vector256.ShiftRightLogical(r0.AsUInt16(), 4).AsByte() & low, yh);
                        h1 = DotBytes(h1, Vector256.ShiftRightLogical(r1.AsUInt16(), 4).AsByte() & low, yh);
                    }
                    // Scales of sub-blocks 2k and 2k+1: bytes 2(k&1) and 2(k&1)+1 of the 0–3 or 4–7 dword.
                    int sh = 16 * (k & 1);
                    var s0 = k < 2 ? sc0.Lo : sc0.Hi;
                    var s1 = k < 2 ? sc1.Lo : sc1.Hi;
                    var ff = Vector256.Create(0xFFu);
                    i0 += l0 * (Vector256.ShiftRightLogical(s0, sh) & ff).AsInt32() + h0 * (Vector256.ShiftRightLogical(s0, sh + 8) & ff).AsInt32();
                    i1 += l1 * (Vector256.ShiftRightLogical(s1, sh) & ff).AsInt32() + h1 * (Vector256.ShiftRightLogical(s1, sh + 8) & ff).AsInt32();
                }
                // Σ_j min_j·(sum of the activation's sub-block j): shorts (m_j, m_j+2) against (B_j, B_j+2).
                short* bs = yb->BSums;
                var p02 = Pair(bs, 0, 2);
                var p13 = Pair(bs, 1, 3);
                var p46 = Pair(bs, 4, 6);
                var p57 = Pair(bs, 5, 7);
                var dy = Vector256.Create(yb->D);
                a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i0), Halves(x0) * dy, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1), Halves(x1) * dy, a1);
                m0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(MinSum(mn0, p02, p13, p46, p57)), Halves(x0 + 16) * dy, m0);
                m1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(MinSum(mn1, p02, p13, p46, p57)), Halves(x1 + 16) * dy, m1);
            }
            (a0 - m0).Store(y + g * 8);
            if (two)
                (a1 - m1).Store(y + g * 8 + 8);
        }
    }

    private readonly struct Pairs(Vector256<uint> lo, Vector256<uint> hi)
    {
        public readonly Vector256<uint> Lo = lo, Hi = hi;
    }

    /// <summary>ggml's get_scale_min_k4 on 8 rows at once: scales 0–3 / 4–7 and mins 0–3 / 4–7 as 4 bytes per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Pairs Scales(byte* x, out Pairs mins)
    {
        var u0 = Vector256.Load((uint*)(x + 32));
        var u1 = Vector256.Load((uint*)(x + 64));
        var u2 = Vector256.Load((uint*)(x + 96));
        var m6 = Vector256.Create(0x3F3F3F3Fu);
        var m4 = Vector256.Create(0x0F0F0F0Fu);
        var m2 = Vector256.Create(0x03030303u);
        mins = new Pairs(u1 & m6, (Vector256.ShiftRightLogical(u2, 4) & m4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(u1, 6) & m2, 4));
        return new Pairs(u0 & m6, (u2 & m4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(u0, 6) & m2, 4));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pair(short* bs, int j, int k) =>
        Vector256.Create((uint)(ushort)(short)(bs[2 * j] + bs[2 * j + 1]) | ((uint)(ushort)(short)(bs[2 * k] + bs[2 * k + 1]) << 16)).AsInt16();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinSum(Pairs m, Vector256<short> p02, Vector256<short> p13, Vector256<short> p46, Vector256<short> p57)
    {
        var even = Vector256.Create(0x00FF00FFu);
        return Avx2.MultiplyAddAdjacent((m.Lo & even).AsInt16(), p02)
            + Avx2.MultiplyAddAdjacent((Vector256.ShiftRightLogical(m.Lo, 8) & even).AsInt16(), p13)
            + Avx2.MultiplyAddAdjacent((m.Hi & even).AsInt16(), p46)
            + Avx2.MultiplyAddAdjacent((Vector256.ShiftRightLogical(m.Hi, 8) & even).AsInt16(), p57);
    }
}
