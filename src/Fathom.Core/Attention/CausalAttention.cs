using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Fathom.Models;
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
internal static class CausalAttention
{
    private const int Lanes = GgmlMath.Lanes;

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
        unsafe
        {
            fixed (float* qp = q)
            fixed (float* op = output)
            {
                float* qs = qp, os = op;
                int g = shape.Group, dkPad = RoundUp(shape.KeyLength), dvPad = RoundUp(shape.ValueLength);
                int scratchLength = g * dkPad + g * RoundUp(firstPosition + tokens) + g * Lanes * dvPad + Math.Max(dkPad, dvPad);
                Action<int, int> body = (i0, i1) =>
                {
                    float[] scratch = ArrayPool<float>.Shared.Rent(scratchLength);
                    try
                    {
                        fixed (float* sp = scratch)
                        {
                            for (int i = i0; i < i1; i++)
                            {
                                int t = i / shape.KvHeads, kvHead = i % shape.KvHeads;
                                int h0 = kvHead * g;
                                KvGroup(cache, layer, qs + (long)t * qWidth + h0 * shape.KeyLength, firstPosition + t + 1, kvHead,
                                    shape, sp, os + (long)t * oWidth + h0 * shape.ValueLength);
                            }
                        }
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(scratch);
                    }
                };
                if (pool is null)
                    body(0, tokens * shape.KvHeads);
                else
                    pool.For(tokens * shape.KvHeads, body);
            }
        }
    }

    private static int RoundUp(int n) => (n + Lanes - 1) / Lanes * Lanes;

    // The query heads that share one key/value head, over positions 0..n-1: each K and V row is widened
    // from f16 once and used by every head of the group.
    private static unsafe void KvGroup(IKvCache cache, int layer, float* q, int n, int kvHead, AttentionShape shape,
        float* scratch, float* output)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, page = cache.PageSize;
        int dkPad = RoundUp(dk), dvPad = RoundUp(dv), nPad = RoundUp(n);
        float* qh = scratch;
        float* scores = qh + g * dkPad;
        float* acc = scores + g * nPad;
        float* row = acc + g * Lanes * dvPad;
        for (int h = 0; h < g; h++)
        {
            for (int i = 0; i < dkPad; i++)
                qh[h * dkPad + i] = i < dk ? (float)(Half)q[h * dk + i] : 0f;
        }

        for (int p0 = 0, pg = 0; p0 < n; p0 += page, pg++)
        {
            int count = Math.Min(page, n - p0);
            fixed (Half* keys = cache.Keys(layer, pg))
            {
                for (int j = 0; j < count; j++)
                {
                    Widen(keys + (long)j * cache.KeyWidth + kvHead * dk, dk, row);
                    for (int h = 0; h < g; h++)
                    {
                        float* qr = qh + h * dkPad;
                        var sum = Vector512<float>.Zero;
                        for (int c = 0; c < dkPad; c += Lanes)
                            sum = Vector512.FusedMultiplyAdd(Vector512.Load(qr + c), Vector512.Load(row + c), sum);
                        scores[h * nPad + p0 + j] = GgmlMath.Sum(sum) * shape.Scale;
                    }
                }
            }
        }

        for (int h = 0; h < g; h++)
        {
            var s = new Span<float>(scores + h * nPad, n);
            GgmlMath.SoftmaxPadded(s);
            for (int j = 0; j < n; j++)
                s[j] = (float)(Half)s[j];
        }

        // Lane l accumulates positions l, l+16, l+32, … (tinyBLAS's FMA chain over 16-wide chunks of positions).
        new Span<float>(acc, g * Lanes * dvPad).Clear();
        for (int p0 = 0, pg = 0; p0 < n; p0 += page, pg++)
        {
            int count = Math.Min(page, n - p0);
            fixed (Half* values = cache.Values(layer, pg))
            {
                for (int j = 0; j < count; j++)
                {
                    Widen(values + (long)j * cache.ValueWidth + kvHead * dv, dv, row);
                    int lane = (p0 + j) & (Lanes - 1);
                    for (int h = 0; h < g; h++)
                    {
                        var p = Vector512.Create(scores[h * nPad + p0 + j]);
                        float* a = acc + (h * Lanes + lane) * dvPad;
                        for (int d = 0; d < dvPad; d += Lanes)
                            Vector512.FusedMultiplyAdd(p, Vector512.Load(row + d), Vector512.Load(a + d)).Store(a + d);
                    }
                }
            }
        }

        // Per output, the 16 lane partial sums reduce as _mm512_reduce_add_ps: l+8, then l+4, then l+2, then l+1.
        for (int h = 0; h < g; h++)
        {
            float* a = acc + h * Lanes * dvPad;
            float* o = output + h * dv;
            for (int d = 0; d < dvPad; d += Lanes)
            {
                var s0 = (Vector512.Load(a + 8 * dvPad + d) + Vector512.Load(a + d)) + (Vector512.Load(a + 12 * dvPad + d) + Vector512.Load(a + 4 * dvPad + d));
                var s1 = (Vector512.Load(a + 9 * dvPad + d) + Vector512.Load(a + 1 * dvPad + d)) + (Vector512.Load(a + 13 * dvPad + d) + Vector512.Load(a + 5 * dvPad + d));
                var s2 = (Vector512.Load(a + 10 * dvPad + d) + Vector512.Load(a + 2 * dvPad + d)) + (Vector512.Load(a + 14 * dvPad + d) + Vector512.Load(a + 6 * dvPad + d));
                var s3 = (Vector512.Load(a + 11 * dvPad + d) + Vector512.Load(a + 3 * dvPad + d)) + (Vector512.Load(a + 15 * dvPad + d) + Vector512.Load(a + 7 * dvPad + d));
                var r = (s0 + s2) + (s1 + s3);
                int m = Math.Min(Lanes, dv - d);
                for (int k = 0; k < m; k++)
                    o[d + k] = r[k];
            }
        }
    }

    // n f16 values as floats into dst, zero-padded to a whole number of 16-lane chunks.
    private static unsafe void Widen(Half* src, int n, float* dst)
    {
        int i = 0;
        for (; i + Lanes <= n; i += Lanes)
        {
            var h = Vector256.Load((ushort*)(src + i));
            Tensors.F16.ToFloat(Vector512.Create(Vector256.WidenLower(h), Vector256.WidenUpper(h))).Store(dst + i);
        }
        for (; i < n; i++)
            dst[i] = (float)src[i];
        for (; (i & (Lanes - 1)) != 0; i++)
            dst[i] = 0f;
    }
}
