using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Decode mat-vec of F16 weights in llamafile tinyBLAS's order (one 16-lane FMA chain per row over
/// x, then _mm512_reduce_add_ps's fold), four rows per pass. x holds the activations already rounded
/// to f16 (as floats). .NET has no vcvtph2ps, so halves widen in integer ops: normal values by an
/// exponent rebias (4 ops), and only a 32-half group that holds a zero, subnormal, Inf or NaN takes
/// the general exact conversion. The products are those of the general path, so the bits are too.
/// </summary>
internal static unsafe class F16Gemv
{
    /// <summary>AVX-512 (BW for the 16-bit lane tests) is on.</summary>
    public static bool IsSupported
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Simd.UseAvx512BW && Avx512F.IsSupported;
    }

    /// <summary>y[r] = Σ_c w[r, c]·x[c] for every row; cols a multiple of 16.</summary>
    public static void MatVec(ushort* w, int cols, int rows, float* x, float* y, WorkerPool? pool)
    {
        var body = new Body { W = w, X = x, Y = y, Columns = cols, Rows = rows };
        int tiles = (rows + Body.RowTile - 1) / Body.RowTile;
        if (pool is null || pool.ThreadCount == 1)
            body.Invoke(0, tiles);
        else
            pool.For(tiles, ref body, Math.Max(1, tiles / (pool.ThreadCount * 8)));
    }

    private struct Body : IParallelBody
    {
        public const int RowTile = 16;
        public ushort* W;
        public float* X, Y;
        public int Columns, Rows;

        public readonly void Invoke(int start, int end) => Rows4(W, Columns, X, Y, start * RowTile, Math.Min(Rows, end * RowTile));
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
            y[r] = Sum(a0);
            y[r + 1] = Sum(a1);
            y[r + 2] = Sum(a2);
            y[r + 3] = Sum(a3);
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
            y[r] = Sum(a0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ref Vector512<float> acc, ushort* w, Vector512<float> x0, Vector512<float> x1)
    {
        var h = Vector512.Load(w);
        // Exponent + 1 (mod 32) ≤ 1 picks exponent 0 (zero, subnormal) and 31 (Inf, NaN).
        var e = (h + Vector512.Create((ushort)0x0400)) & Vector512.Create((ushort)0x7C00);
        Vector512<float> lo, hi;
        if (Vector512.LessThanOrEqualAny(e, Vector512.Create((ushort)0x0400)))
        {
            lo = F16.ToFloat(Avx512F.ConvertToVector512UInt32(h.GetLower()));
            hi = F16.ToFloat(Avx512F.ConvertToVector512UInt32(h.GetUpper()));
        }
        else
        {
            lo = Normal(Avx512F.ConvertToVector512UInt32(h.GetLower()));
            hi = Normal(Avx512F.ConvertToVector512UInt32(h.GetUpper()));
        }
        acc = Vector512.FusedMultiplyAdd(lo, x0, acc);
        acc = Vector512.FusedMultiplyAdd(hi, x1, acc);
    }

    /// <summary>The last 16 columns when the count is an odd multiple of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tail(ref Vector512<float> acc, ushort* w, Vector512<float> x) =>
        acc = Vector512.FusedMultiplyAdd(F16.ToFloat(Avx512F.ConvertToVector512UInt32(Vector256.Load(w))), x, acc);

    /// <summary>A normal half as float: exponent and mantissa shifted into place and rebiased (+112), sign moved to bit 31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Normal(Vector512<uint> h)
    {
        var magnitude = ((h << 13) & Vector512.Create(0x0FFFE000u)) + Vector512.Create(112u << 23);
        return Vector512.ConditionalSelect(Vector512.Create(0x80000000u), h << 16, magnitude).AsSingle();
    }

    /// <summary>_mm512_reduce_add_ps's order: halves, then quarters, then pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v)
    {
        var t = v.GetLower() + v.GetUpper();
        var q = t.GetLower() + t.GetUpper();
        return (q[0] + q[2]) + (q[1] + q[3]);
    }
}
