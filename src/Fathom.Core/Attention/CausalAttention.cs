using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Models;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Attention;

/// <summary>Head geometry for one attention call.</summary>
internal readonly record struct AttentionShape(int Heads, int KvHeads, int KeyLength, int ValueLength, float Scale)
{
    public int Group => Heads / KvHeads;
}

/// <summary>
/// Plain causal attention over an <see cref="IKvCache"/>, rounding like llama.cpp's non-flash path on
/// the CPU: Q is converted to f16 and Q·K accumulated lane-wise in 16 FMA lanes then summed as
/// _mm512_reduce_add_ps (tinyBLAS's f16 GEMM); softmax with ggml_v_expf over 16-position groups; the
/// probabilities converted to f16 and P·V accumulated the same lane-wise way over positions.
/// </summary>
/// <remarks>
/// A work item is one KV head and a tile of up to <see cref="TileTokens"/> query tokens: K and V are
/// widened from f16 a block of positions at a time and serve every query head of the group for every
/// token of the tile. The arithmetic per output is the same sequence of operations as the plain loop
/// (each lane's FMA chain in position order, the same reduction trees), so the result is bit for bit.
/// </remarks>
internal static class CausalAttention
{
    private const int Lanes = GgmlMath.Lanes;

    // Query tokens per work item in prefill: one widened K/V row serves TileTokens × Group query heads.
    private const int TileTokens = 4;

    // Positions widened from f16 at a time (a multiple of Lanes): 256 rows of 64 floats stay in L2.
    private const int Block = 256;

    /// <summary>
    /// For token t (position firstPosition + t) and head h, writes softmax(scale·q·Kᵀ)·V over positions
    /// 0..firstPosition+t into output[t, h·ValueLength …]. The cache must already hold those positions.
    /// </summary>
    public static void Compute(IKvCache cache, int layer, ReadOnlySpan<float> q, int tokens, int firstPosition,
        AttentionShape shape, Span<float> output, WorkerPool? pool)
    {
        int qWidth = shape.Heads * shape.KeyLength, oWidth = shape.Heads * shape.ValueLength;
        if (q.Length < tokens * qWidth || output.Length < tokens * oWidth)
            throw new ArgumentException("attention buffers too small");
        if (firstPosition + tokens > cache.Capacity)
            throw new ArgumentOutOfRangeException(nameof(tokens), $"positions up to {firstPosition + tokens} exceed the cache of {cache.Capacity}");
        if (tokens <= 0)
            return;
        unsafe
        {
            fixed (float* qp = q)
            fixed (float* op = output)
            {
                float* qs = qp, os = op;
                int g = shape.Group, dkPad = RoundUp(shape.KeyLength), dvPad = RoundUp(shape.ValueLength);
                int rows = Math.Min(tokens, TileTokens) * g, tiles = (tokens + TileTokens - 1) / TileTokens;
                long scratchLength = (long)rows * dkPad + (long)rows * RoundUp(firstPosition + tokens)
                    + (long)Block * Math.Max(dkPad, dvPad) + (long)rows * Lanes * dvPad + Lanes;
                if (scratchLength > Array.MaxLength)
                    throw new ArgumentOutOfRangeException(nameof(tokens), $"attention over {firstPosition + tokens} positions needs too much scratch");
                Action<int, int> body = (i0, i1) =>
                {
                    float[] scratch = ArrayPool<float>.Shared.Rent((int)scratchLength);
                    try
                    {
                        fixed (float* sp = scratch)
                        {
                            // 64-byte aligned so the 16-lane loads and stores never split a cache line.
                            float* aligned = (float*)(((nint)sp + 63) & ~(nint)63);
                            for (int i = i0; i < i1; i++)
                            {
                                int tile = i / shape.KvHeads, kvHead = i % shape.KvHeads;
                                int t0 = tile * TileTokens, t1 = Math.Min(tokens, t0 + TileTokens);
                                Tile(cache, layer, qs, t0, t1, firstPosition, kvHead, shape, aligned, os);
                            }
                        }
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(scratch);
                    }
                };
                if (pool is null)
                    body(0, tiles * shape.KvHeads);
                else
                    pool.For(tiles * shape.KvHeads, body);
            }
        }
    }

    private static int RoundUp(int n) => (n + Lanes - 1) / Lanes * Lanes;

    // Query tokens t0..t1-1 and the query heads of one KV head. Row r = (t - t0)·Group + h of the
    // tile's queries, scores and accumulators; token t sees positions 0..firstPosition+t.
    private static unsafe void Tile(IKvCache cache, int layer, float* q, int t0, int t1, int firstPosition, int kvHead,
        AttentionShape shape, float* scratch, float* output)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength;
        int dkPad = RoundUp(dk), dvPad = RoundUp(dv);
        int qWidth = shape.Heads * dk, oWidth = shape.Heads * dv;
        int rows = (t1 - t0) * g, nMax = firstPosition + t1, nPad = RoundUp(nMax);
        float* qh = scratch;
        float* scores = qh + (long)rows * dkPad;
        float* block = scores + (long)rows * nPad;
        float* acc = block + (long)Block * Math.Max(dkPad, dvPad);

        for (int r = 0; r < rows; r++)
            RoundRow(q + (long)(t0 + r / g) * qWidth + (kvHead * g + r % g) * dk, dk, qh + (long)r * dkPad);

        // Scores of every row for every position up to the tile's last token (the later ones are unused).
        for (int b0 = 0; b0 < nMax; b0 += Block)
        {
            int count = Math.Min(Block, nMax - b0);
            WidenRows(cache, layer, true, kvHead, b0, count, dk, dkPad, block);
            for (int k0 = 0; k0 < count; k0 += Lanes)
            {
                for (int r = 0; r < rows; r++)
                    Dot16(qh + (long)r * dkPad, block + (long)k0 * dkPad, dkPad, dkPad, shape.Scale, scores + (long)r * nPad + b0 + k0);
            }
        }

        for (int r = 0; r < rows; r++)
            Softmax(scores + (long)r * nPad, firstPosition + t0 + r / g + 1);

        // Lane l of row r accumulates positions l, l+16, l+32, … (tinyBLAS's FMA chain over 16-wide chunks of positions).
        new Span<float>(acc, rows * Lanes * dvPad).Clear();
        for (int b0 = 0; b0 < nMax; b0 += Block)
        {
            int count = Math.Min(Block, nMax - b0);
            WidenRows(cache, layer, false, kvHead, b0, count, dv, dvPad, block);
            for (int r = 0; r < rows; r++)
            {
                int end = Math.Min(count, firstPosition + t0 + r / g + 1 - b0);
                float* p = scores + (long)r * nPad + b0;
                for (int l = 0; l < Math.Min(Lanes, end); l++)
                    AccumulateLane(acc + ((long)r * Lanes + l) * dvPad, p, block, l, end, dvPad);
            }
        }

        // Per output, the 16 lane partial sums reduce as _mm512_reduce_add_ps: l+8, then l+4, then l+2, then l+1.
        for (int r = 0; r < rows; r++)
        {
            float* a = acc + (long)r * Lanes * dvPad;
            float* o = output + (long)(t0 + r / g) * oWidth + (kvHead * g + r % g) * dv;
            if (!Vector512.IsHardwareAccelerated)
            {
                ReduceLanes8(a, dvPad, dv, o);
                continue;
            }
            for (int d = 0; d < dvPad; d += Lanes)
            {
                var s0 = (Vector512.Load(a + 8 * dvPad + d) + Vector512.Load(a + d)) + (Vector512.Load(a + 12 * dvPad + d) + Vector512.Load(a + 4 * dvPad + d));
                var s1 = (Vector512.Load(a + 9 * dvPad + d) + Vector512.Load(a + 1 * dvPad + d)) + (Vector512.Load(a + 13 * dvPad + d) + Vector512.Load(a + 5 * dvPad + d));
                var s2 = (Vector512.Load(a + 10 * dvPad + d) + Vector512.Load(a + 2 * dvPad + d)) + (Vector512.Load(a + 14 * dvPad + d) + Vector512.Load(a + 6 * dvPad + d));
                var s3 = (Vector512.Load(a + 11 * dvPad + d) + Vector512.Load(a + 3 * dvPad + d)) + (Vector512.Load(a + 15 * dvPad + d) + Vector512.Load(a + 7 * dvPad + d));
                var sum = (s0 + s2) + (s1 + s3);
                if (d + Lanes <= dv)
                    sum.Store(o + d);
                else
                {
                    for (int k = 0; k < dv - d; k++)
                        o[d + k] = sum[k];
                }
            }
        }
    }

    // Tile's output reduction on 8 lanes at a time (machines without AVX-512): the same adds in the same order.
    private static unsafe void ReduceLanes8(float* a, int dvPad, int dv, float* o)
    {
        for (int d = 0; d < dvPad; d += 8)
        {
            var s0 = (Vector256.Load(a + 8 * dvPad + d) + Vector256.Load(a + d)) + (Vector256.Load(a + 12 * dvPad + d) + Vector256.Load(a + 4 * dvPad + d));
            var s1 = (Vector256.Load(a + 9 * dvPad + d) + Vector256.Load(a + 1 * dvPad + d)) + (Vector256.Load(a + 13 * dvPad + d) + Vector256.Load(a + 5 * dvPad + d));
            var s2 = (Vector256.Load(a + 10 * dvPad + d) + Vector256.Load(a + 2 * dvPad + d)) + (Vector256.Load(a + 14 * dvPad + d) + Vector256.Load(a + 6 * dvPad + d));
            var s3 = (Vector256.Load(a + 11 * dvPad + d) + Vector256.Load(a + 3 * dvPad + d)) + (Vector256.Load(a + 15 * dvPad + d) + Vector256.Load(a + 7 * dvPad + d));
            var sum = (s0 + s2) + (s1 + s3);
            if (d + 8 <= dv)
                sum.Store(o + d);
            else
            {
                for (int k = 0; k < dv - d; k++)
                    o[d + k] = sum[k];
            }
        }
    }

    // a[d] = fma(p[j], v[j, d], a[d]) for j = l, l+16, … below end, in that order.
    private static unsafe void AccumulateLane(float* a, float* p, float* v, int l, int end, int dvPad)
    {
        int d = 0;
        if (!Vector512.IsHardwareAccelerated)
        {
            // Eight lanes at a time (machines without AVX-512): the same FMA per element.
            for (; d + 32 <= dvPad; d += 32)
            {
                var a0 = Vector256.Load(a + d);
                var a1 = Vector256.Load(a + d + 8);
                var a2 = Vector256.Load(a + d + 16);
                var a3 = Vector256.Load(a + d + 24);
                for (int j = l; j < end; j += Lanes)
                {
                    var pj = Vector256.Create(p[j]);
                    float* vr = v + (long)j * dvPad + d;
                    a0 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vr), a0);
                    a1 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vr + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vr + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vr + 24), a3);
                }
                a0.Store(a + d);
                a1.Store(a + d + 8);
                a2.Store(a + d + 16);
                a3.Store(a + d + 24);
            }
            for (; d < dvPad; d += 8)
            {
                var a0 = Vector256.Load(a + d);
                for (int j = l; j < end; j += Lanes)
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[j]), Vector256.Load(v + (long)j * dvPad + d), a0);
                a0.Store(a + d);
            }
            return;
        }
        for (; d + 4 * Lanes <= dvPad; d += 4 * Lanes)
        {
            var a0 = Vector512.Load(a + d);
            var a1 = Vector512.Load(a + d + Lanes);
            var a2 = Vector512.Load(a + d + 2 * Lanes);
            var a3 = Vector512.Load(a + d + 3 * Lanes);
            for (int j = l; j < end; j += Lanes)
            {
                var pj = Vector512.Create(p[j]);
                float* vr = v + (long)j * dvPad + d;
                a0 = Vector512.FusedMultiplyAdd(pj, Vector512.Load(vr), a0);
                a1 = Vector512.FusedMultiplyAdd(pj, Vector512.Load(vr + Lanes), a1);
                a2 = Vector512.FusedMultiplyAdd(pj, Vector512.Load(vr + 2 * Lanes), a2);
                a3 = Vector512.FusedMultiplyAdd(pj, Vector512.Load(vr + 3 * Lanes), a3);
            }
            a0.Store(a + d);
            a1.Store(a + d + Lanes);
            a2.Store(a + d + 2 * Lanes);
            a3.Store(a + d + 3 * Lanes);
        }
        for (; d < dvPad; d += Lanes)
        {
            var a0 = Vector512.Load(a + d);
            for (int j = l; j < end; j += Lanes)
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[j]), Vector512.Load(v + (long)j * dvPad + d), a0);
            a0.Store(a + d);
        }
    }

    // Scores of one query row against 16 widened key rows (ks floats apart): lane-wise FMA over the 16-wide chunks,
    // then each key's 16 lanes summed in _mm512_reduce_add_ps order, times scale.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Dot16(float* q, float* k, int dkPad, int ks, float scale, float* dst)
    {
        if (!Avx512F.IsSupported)
        {
            if (Avx.IsSupported)
            {
                for (int key = 0; key < Lanes; key += 4)
                    Dot4Halves(q, k + (long)key * ks, dkPad, ks, scale, dst + key);
                return;
            }
            // Each key's 16-lane chain as two 8-lane halves: the same FMA per lane, the same reduction.
            for (int key = 0; key < Lanes; key++)
            {
                Vector256<float> lo = default, hi = default;
                float* kr = k + (long)key * ks;
                for (int c = 0; c < dkPad; c += Lanes)
                {
                    lo = Vector256.FusedMultiplyAdd(Vector256.Load(q + c), Vector256.Load(kr + c), lo);
                    hi = Vector256.FusedMultiplyAdd(Vector256.Load(q + c + 8), Vector256.Load(kr + c + 8), hi);
                }
                dst[key] = GgmlMath.Sum(lo, hi) * scale;
            }
            return;
        }
        // Slot s holds key 4·(s & 3) + (s >> 2): the transposing reduction leaves slot 4s + b in lane 4b + s.
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> a8 = default, a9 = default, a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        long st = ks;
        for (int c = 0; c < dkPad; c += Lanes)
        {
            var qv = Vector512.Load(q + c);
            float* kc = k + c;
            a0 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc), a0);
            a1 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 4 * st), a1);
            a2 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 8 * st), a2);
            a3 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 12 * st), a3);
            a4 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 1 * st), a4);
            a5 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 5 * st), a5);
            a6 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 9 * st), a6);
            a7 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 13 * st), a7);
            a8 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 2 * st), a8);
            a9 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 6 * st), a9);
            a10 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 10 * st), a10);
            a11 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 14 * st), a11);
            a12 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 3 * st), a12);
            a13 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 7 * st), a13);
            a14 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 11 * st), a14);
            a15 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(kc + 15 * st), a15);
        }
        (Reduce16(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) * Vector512.Create(scale)).Store(dst);
    }

    // Four keys (ks floats apart) against q, each key's 16-lane chain as two 8-lane halves, the four reduced together in
    // _mm512_reduce_add_ps's order: halves (l + l+8), quarters (l + l+4), then (q0 + q2) + (q1 + q3).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Dot4Halves(float* q, float* k, int dkPad, int ks, float scale, float* dst)
    {
        Vector256<float> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
        float* k1 = k + ks, k2 = k1 + ks, k3 = k2 + ks;
        for (int c = 0; c < dkPad; c += Lanes)
        {
            var qa = Vector256.Load(q + c);
            var qb = Vector256.Load(q + c + 8);
            l0 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k + c), l0);
            h0 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k + c + 8), h0);
            l1 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k1 + c), l1);
            h1 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k1 + c + 8), h1);
            l2 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k2 + c), l2);
            h2 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k2 + c + 8), h2);
            l3 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k3 + c), l3);
            h3 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k3 + c + 8), h3);
        }
        Vector256<float> t0 = l0 + h0, t1 = l1 + h1, t2 = l2 + h2, t3 = l3 + h3;
        // Quarters: lanes 0–3 key 0 (or 2), lanes 4–7 key 1 (or 3).
        var u01 = Avx.Permute2x128(t0, t1, 0x20) + Avx.Permute2x128(t0, t1, 0x31);
        var u23 = Avx.Permute2x128(t2, t3, 0x20) + Avx.Permute2x128(t2, t3, 0x31);
        // Per 128-bit lane [a0 + a2, a1 + a3, b0 + b2, b1 + b3]: low lane keys 0 and 2, high lane keys 1 and 3.
        var v = Avx.Shuffle(u01, u23, 0x44) + Avx.Shuffle(u01, u23, 0xEE);
        // [v0 + v1, v2 + v3, …]: low lane (key 0, key 2), high lane (key 1, key 3).
        var w = (Avx.Shuffle(v, v, 0x88) + Avx.Shuffle(v, v, 0xDD)) * Vector256.Create(scale);
        dst[0] = w[0];
        dst[1] = w[4];
        dst[2] = w[1];
        dst[3] = w[5];
    }

    /// <summary>
    /// The 16 horizontal sums of a0…a15 in one vector, each summed in _mm512_reduce_add_ps's order. Lane 4b + s holds
    /// the sum of slot 4s + b; that is, the sum of a_i lands in lane 4·(i &amp; 3) + (i &gt;&gt; 2).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Reduce16(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
        Vector512<float> a4, Vector512<float> a5, Vector512<float> a6, Vector512<float> a7, Vector512<float> a8, Vector512<float> a9,
        Vector512<float> a10, Vector512<float> a11, Vector512<float> a12, Vector512<float> a13, Vector512<float> a14, Vector512<float> a15)
    {
        // Halves (lane l + lane l+8), then quarters (l+4) within each 256-bit half, then pairs (l+2), then l+1.
        var c0 = Avx512F.Shuffle4x128(a0, a1, 0x44) + Avx512F.Shuffle4x128(a0, a1, 0xEE);
        var c1 = Avx512F.Shuffle4x128(a2, a3, 0x44) + Avx512F.Shuffle4x128(a2, a3, 0xEE);
        var c2 = Avx512F.Shuffle4x128(a4, a5, 0x44) + Avx512F.Shuffle4x128(a4, a5, 0xEE);
        var c3 = Avx512F.Shuffle4x128(a6, a7, 0x44) + Avx512F.Shuffle4x128(a6, a7, 0xEE);
        var c4 = Avx512F.Shuffle4x128(a8, a9, 0x44) + Avx512F.Shuffle4x128(a8, a9, 0xEE);
        var c5 = Avx512F.Shuffle4x128(a10, a11, 0x44) + Avx512F.Shuffle4x128(a10, a11, 0xEE);
        var c6 = Avx512F.Shuffle4x128(a12, a13, 0x44) + Avx512F.Shuffle4x128(a12, a13, 0xEE);
        var c7 = Avx512F.Shuffle4x128(a14, a15, 0x44) + Avx512F.Shuffle4x128(a14, a15, 0xEE);
        var e0 = Avx512F.Shuffle4x128(c0, c1, 0x88) + Avx512F.Shuffle4x128(c0, c1, 0xDD);
        var e1 = Avx512F.Shuffle4x128(c2, c3, 0x88) + Avx512F.Shuffle4x128(c2, c3, 0xDD);
        var e2 = Avx512F.Shuffle4x128(c4, c5, 0x88) + Avx512F.Shuffle4x128(c4, c5, 0xDD);
        var e3 = Avx512F.Shuffle4x128(c6, c7, 0x88) + Avx512F.Shuffle4x128(c6, c7, 0xDD);
        var g0 = Avx512F.UnpackLow(e0.AsDouble(), e1.AsDouble()).AsSingle() + Avx512F.UnpackHigh(e0.AsDouble(), e1.AsDouble()).AsSingle();
        var g1 = Avx512F.UnpackLow(e2.AsDouble(), e3.AsDouble()).AsSingle() + Avx512F.UnpackHigh(e2.AsDouble(), e3.AsDouble()).AsSingle();
        var sums = Avx512F.Shuffle(g0, g1, 0x88) + Avx512F.Shuffle(g0, g1, 0xDD);
        return sums;
    }

    // In place over s[0..n) as GgmlMath.SoftmaxPadded (exps in 16-position groups, each group summed
    // in float, groups in double), then each probability rounded to f16. s has room up to RoundUp(n).
    private static unsafe void Softmax(float* s, int n)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            Softmax8(s, n);
            return;
        }
        var vmax = Vector512.Create(RowMax(s, n));
        double sum = 0;
        int i;
        for (i = 0; i + Lanes <= n; i += Lanes)
        {
            var e = GgmlMath.Exp(Vector512.Load(s + i) - vmax);
            sum += GgmlMath.Sum(e);
            e.Store(s + i);
        }
        if (i < n)
        {
            // llama.cpp's masked lanes give exp(-inf) = 0; here they read as the max (in range) and are zeroed.
            var live = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n - i)).AsSingle();
            var x = Vector512.ConditionalSelect(live, Vector512.Load(s + i), vmax);
            var e = Vector512.ConditionalSelect(live, GgmlMath.Exp(x - vmax), Vector512<float>.Zero);
            sum += GgmlMath.Sum(e);
            e.Store(s + i);
        }
        var inv = Vector512.Create((float)(1.0 / sum));
        for (i = 0; i < n; i += Lanes)
            F16.RoundToHalf(Vector512.Load(s + i) * inv).Store(s + i);
    }

    // The largest of s[0..n) (a maximum is the same in any order, so eight lanes serve either width).
    private static unsafe float RowMax(float* s, int n)
    {
        var vmax = Vector256.Create(float.NegativeInfinity);
        int i = 0;
        for (; i + 8 <= n; i += 8)
            vmax = Vector256.Max(vmax, Vector256.Load(s + i));
        float max = float.NegativeInfinity;
        for (int k = 0; k < 8; k++)
            max = MathF.Max(max, vmax[k]);
        for (; i < n; i++)
            max = MathF.Max(max, s[i]);
        return max;
    }

    // Softmax with each 16-position group as two 8-lane halves (machines without AVX-512): the same exps, the same
    // group sums, the same rounding.
    private static unsafe void Softmax8(float* s, int n)
    {
        var vmax = Vector256.Create(RowMax(s, n));
        double sum = 0;
        int i;
        for (i = 0; i + Lanes <= n; i += Lanes)
        {
            var lo = GgmlMath.Exp(Vector256.Load(s + i) - vmax);
            var hi = GgmlMath.Exp(Vector256.Load(s + i + 8) - vmax);
            sum += GgmlMath.Sum(lo, hi);
            lo.Store(s + i);
            hi.Store(s + i + 8);
        }
        if (i < n)
        {
            var live0 = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(n - i)).AsSingle();
            var live1 = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(n - i - 8)).AsSingle();
            var lo = Vector256.ConditionalSelect(live0, GgmlMath.Exp(Vector256.ConditionalSelect(live0, Vector256.Load(s + i), vmax) - vmax), Vector256<float>.Zero);
            var hi = Vector256.ConditionalSelect(live1, GgmlMath.Exp(Vector256.ConditionalSelect(live1, Vector256.Load(s + i + 8), vmax) - vmax), Vector256<float>.Zero);
            sum += GgmlMath.Sum(lo, hi);
            lo.Store(s + i);
            hi.Store(s + i + 8);
        }
        var inv = Vector256.Create((float)(1.0 / sum));
        for (i = 0; i < n; i += 8)
            F16.RoundToHalf(Vector256.Load(s + i) * inv).Store(s + i);
    }

    // n floats rounded through f16 into dst, zero-padded to a whole number of 16-lane chunks.
    private static unsafe void RoundRow(float* src, int n, float* dst)
    {
        int i = 0;
        if (!Vector512.IsHardwareAccelerated)
        {
            for (int end = n / Lanes * Lanes; i < end; i += 8)
                F16.RoundToHalf(Vector256.Load(src + i)).Store(dst + i);
        }
        for (; i + Lanes <= n; i += Lanes)
            F16.RoundToHalf(Vector512.Load(src + i)).Store(dst + i);
        for (; i < n; i++)
            dst[i] = (float)(Half)src[i];
        for (; (i & (Lanes - 1)) != 0; i++)
            dst[i] = 0f;
    }

    // Rows start..start+count-1 of one KV head's keys (or values), n wide, as floats pad apart into dst;
    // rows up to the next multiple of 16 are zero. A page is head-major, so the head's rows are one contiguous run.
    private static unsafe void WidenRows(IKvCache cache, int layer, bool keys, int kvHead, int start, int count, int n, int pad, float* dst)
    {
        int pageSize = cache.PageSize;
        for (int p = start; p < start + count;)
        {
            int page = p / pageSize, off = p - page * pageSize, m = Math.Min(pageSize - off, start + count - p);
            fixed (Half* rows = keys ? cache.Keys(layer, page) : cache.Values(layer, page))
            {
                Half* src = rows + ((long)kvHead * pageSize + off) * n;
                float* d = dst + (long)(p - start) * pad;
                for (int j = 0; j < m; j++)
                    Widen(src + (long)j * n, n, d + (long)j * pad);
            }
            p += m;
        }
        new Span<float>(dst + (long)count * pad, (RoundUp(count) - count) * pad).Clear();
    }

    // n f16 values as floats into dst, zero-padded to a whole number of 16-lane chunks.
    private static unsafe void Widen(Half* src, int n, float* dst)
    {
        F16.ToFloatRow((ushort*)src, n, dst);
        for (int i = n; (i & (Lanes - 1)) != 0; i++)
            dst[i] = 0f;
    }
}
