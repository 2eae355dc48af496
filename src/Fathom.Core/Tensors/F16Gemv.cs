using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Models;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Decode mat-vec of F16 weights in llamafile tinyBLAS's order (one 16-lane FMA chain per row over
/// x, then _mm512_reduce_add_ps's fold), four rows per pass. x holds the activations already rounded
/// to f16 (as floats). .NET has no vcvtph2ps, so halves widen in integer ops, 2^112 too small (three ops, zeros and
/// subnormals included; <see cref="F16.Widen16FiniteRaw"/>), and x is taken 2^112 larger once per call; only a 32-half
/// group that holds an Inf or NaN takes the widening that keeps them. The products are those of the general path,
/// so the bits are too. Without AVX-512 (AVX2) each row's 16-lane chain runs as two 8-lane halves: the same FMA per
/// lane, the same fold.
/// </summary>
internal static unsafe class F16Gemv
{
    /// <summary>AVX-512 (BW for the 16-bit lane tests), or AVX2 for the 8-lane form, is on.</summary>
    public static bool IsSupported
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Wide || Simd.UseAvx2Kernels;
    }

    private static bool Wide
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Simd.UseAvx512BW && Avx512F.IsSupported;
    }

    [ThreadStatic] private static float[]? t_scaled;

    /// <summary>y[r] = Σ_c w[r, c]·x[c] for every row; cols a multiple of 16; x rounded to f16 (|x| ≤ 65504, or ±inf/NaN).</summary>
    public static void MatVec(ushort* w, int cols, int rows, float* x, float* y, WorkerPool? pool)
    {
        // The halves widen 2^112 too small (three integer operations, zeros and subnormals alike), so x takes the
        // 2^112 instead: x·2^112 is exact and finite for every f16 value, and each product is the exact one's bits.
        float[] scaled = t_scaled is { } t && t.Length >= cols ? t : (t_scaled = GC.AllocateUninitializedArray<float>(cols, pinned: true));
        fixed (float* xs = scaled)
        {
            for (int c = 0; c < cols; c += 8)
                (Vector256.Load(x + c) * Vector256.Create(F16.RawUnit)).Store(xs + c);
            var body = new Body { W = w, X = xs, Y = y, Columns = cols, Rows = rows };
            int tiles = (rows + Body.RowTile - 1) / Body.RowTile;
            if (pool is null || pool.ThreadCount == 1)
                body.Invoke(0, tiles);
            else
                pool.For(tiles, ref body, Math.Max(1, tiles / (pool.ThreadCount * 8)));
        }
    }

    private struct Body : IParallelBody
    {
        public const int RowTile = 16;
        public ushort* W;
        public float* X, Y;
        public int Columns, Rows;

        public readonly void Invoke(int start, int end)
        {
            if (Wide)
                Rows4(W, Columns, X, Y, start * RowTile, Math.Min(Rows, end * RowTile));
            else
                Rows4Halves(W, Columns, X, Y, start * RowTile, Math.Min(Rows, end * RowTile));
        }
    }

    internal static void Rows4(ushort* w, int cols, float* x, float* y, int r0, int r1)
    {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            ushort* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int c = 0;
            for (; c + 32 <= cols; c += 32)
            {
                Simd.PrefetchFourRows((byte*)(w3 + cols + c), 2L * cols);
                var x0 = Vector512.Load(x + c);
                var x1 = Vector512.Load(x + c + 16);
                Step(ref a0, w0 + c, x0, x1);
                Step(ref a1, w1 + c, x0, x1);
                Step(ref a2, w2 + c, x0, x1);
                Step(ref a3, w3 + c, x0, x1);
            }
            if (c < cols)
            {
                var xt = Vector512.Load(x + c);
                Tail(ref a0, w0 + c, xt);
                Tail(ref a1, w1 + c, xt);
                Tail(ref a2, w2 + c, xt);
                Tail(ref a3, w3 + c, xt);
            }
            y[r] = GgmlMath.Sum(a0);
            y[r + 1] = GgmlMath.Sum(a1);
            y[r + 2] = GgmlMath.Sum(a2);
            y[r + 3] = GgmlMath.Sum(a3);
        }
        for (; r < r1; r++)
        {
            ushort* w0 = w + (long)r * cols;
            Vector512<float> a0 = default;
            int c = 0;
            for (; c + 32 <= cols; c += 32)
                Step(ref a0, w0 + c, Vector512.Load(x + c), Vector512.Load(x + c + 16));
            if (c < cols)
                Tail(ref a0, w0 + c, Vector512.Load(x + c));
            y[r] = GgmlMath.Sum(a0);
        }
    }

    // Columns c..c+31 of one row against x0, x1 (already 2^112 larger): finite halves widened raw, a group holding an
    // Inf or NaN through the raw widening that keeps them (out of line: rare, and its size would keep Step from being
    // inlined into the row loops).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ref Vector512<float> acc, ushort* w, Vector512<float> x0, Vector512<float> x1)
    {
        var h = Vector512.Load((short*)w);
        if (Vector512.EqualsAny(h & Vector512.Create((short)0x7C00), Vector512.Create((short)0x7C00)))
        {
            acc = Special(acc, h, x0, x1);
            return;
        }
        acc = Vector512.FusedMultiplyAdd(F16.Widen16FiniteRaw(h.GetLower()), x0, acc);
        acc = Vector512.FusedMultiplyAdd(F16.Widen16FiniteRaw(h.GetUpper()), x1, acc);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector512<float> Special(Vector512<float> acc, Vector512<short> h, Vector512<float> x0, Vector512<float> x1)
    {
        acc = Vector512.FusedMultiplyAdd(F16.Widen16Raw(h.GetLower()), x0, acc);
        return Vector512.FusedMultiplyAdd(F16.Widen16Raw(h.GetUpper()), x1, acc);
    }

    /// <summary>The last 16 columns when the count is an odd multiple of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tail(ref Vector512<float> acc, ushort* w, Vector512<float> x) =>
        acc = Vector512.FusedMultiplyAdd(F16.Widen16Raw(Vector256.Load((short*)w)), x, acc);

    // ---- AVX2: lanes 0–7 and 8–15 of each row's chain as two 8-lane accumulators (x already 2^112 larger).

    internal static void Rows4Halves(ushort* w, int cols, float* x, float* y, int r0, int r1)
    {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            ushort* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector256<float> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
            int c = 0;
            for (; c + 32 <= cols; c += 32)
            {
                Simd.PrefetchFourRows((byte*)(w3 + cols + c), 2L * cols);
                Step8(ref l0, ref h0, w0 + c, x + c);
                Step8(ref l1, ref h1, w1 + c, x + c);
                Step8(ref l2, ref h2, w2 + c, x + c);
                Step8(ref l3, ref h3, w3 + c, x + c);
            }
            if (c < cols)
            {
                Tail8(ref l0, ref h0, w0 + c, x + c);
                Tail8(ref l1, ref h1, w1 + c, x + c);
                Tail8(ref l2, ref h2, w2 + c, x + c);
                Tail8(ref l3, ref h3, w3 + c, x + c);
            }
            y[r] = GgmlMath.Sum(l0, h0);
            y[r + 1] = GgmlMath.Sum(l1, h1);
            y[r + 2] = GgmlMath.Sum(l2, h2);
            y[r + 3] = GgmlMath.Sum(l3, h3);
        }
        for (; r < r1; r++)
        {
            ushort* w0 = w + (long)r * cols;
            Vector256<float> l0 = default, h0 = default;
            int c = 0;
            for (; c + 32 <= cols; c += 32)
                Step8(ref l0, ref h0, w0 + c, x + c);
            if (c < cols)
                Tail8(ref l0, ref h0, w0 + c, x + c);
            y[r] = GgmlMath.Sum(l0, h0);
        }
    }

    // Columns c..c+31: lanes 0–7 take c..c+7 then c+16..c+23, lanes 8–15 take c+8..c+15 then c+24..c+31, as the
    // 16-lane chain does.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step8(ref Vector256<float> lo, ref Vector256<float> hi, ushort* w, float* x)
    {
        var a = Vector256.Load((short*)w);
        var b = Vector256.Load((short*)w + 16);
        var e = Vector256.Create((short)0x7C00);
        if (Vector256.EqualsAny(a & e, e) || Vector256.EqualsAny(b & e, e))
        {
            Special8(ref lo, ref hi, a, b, x);
            return;
        }
        lo = Vector256.FusedMultiplyAdd(F16.Widen8FiniteRaw(a.GetLower()), Vector256.Load(x), lo);
        hi = Vector256.FusedMultiplyAdd(F16.Widen8FiniteRaw(a.GetUpper()), Vector256.Load(x + 8), hi);
        lo = Vector256.FusedMultiplyAdd(F16.Widen8FiniteRaw(b.GetLower()), Vector256.Load(x + 16), lo);
        hi = Vector256.FusedMultiplyAdd(F16.Widen8FiniteRaw(b.GetUpper()), Vector256.Load(x + 24), hi);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Special8(ref Vector256<float> lo, ref Vector256<float> hi, Vector256<short> a, Vector256<short> b, float* x)
    {
        lo = Vector256.FusedMultiplyAdd(F16.Widen8Raw(a.GetLower()), Vector256.Load(x), lo);
        hi = Vector256.FusedMultiplyAdd(F16.Widen8Raw(a.GetUpper()), Vector256.Load(x + 8), hi);
        lo = Vector256.FusedMultiplyAdd(F16.Widen8Raw(b.GetLower()), Vector256.Load(x + 16), lo);
        hi = Vector256.FusedMultiplyAdd(F16.Widen8Raw(b.GetUpper()), Vector256.Load(x + 24), hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tail8(ref Vector256<float> lo, ref Vector256<float> hi, ushort* w, float* x)
    {
        var a = Vector256.Load((short*)w);
        lo = Vector256.FusedMultiplyAdd(F16.Widen8Raw(a.GetLower()), Vector256.Load(x), lo);
        hi = Vector256.FusedMultiplyAdd(F16.Widen8Raw(a.GetUpper()), Vector256.Load(x + 8), hi);
    }
}
