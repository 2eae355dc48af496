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
                Action<int, int> body = (i0, i1) =>
                {
                    int dkPad = RoundUp(shape.KeyLength), dvPad = RoundUp(shape.ValueLength);
                    float[] scratch = ArrayPool<float>.Shared.Rent(RoundUp(firstPosition + tokens) + dkPad + Lanes * dvPad + 2 * dvPad);
                    try
                    {
                        for (int i = i0; i < i1; i++)
                        {
                            int t = i / shape.Heads, h = i % shape.Heads;
                            Head(cache, layer, new ReadOnlySpan<float>(qs + (long)t * qWidth + h * shape.KeyLength, shape.KeyLength),
                                firstPosition + t + 1, h / shape.Group, shape, scratch,
                                new Span<float>(os + (long)t * oWidth + h * shape.ValueLength, shape.ValueLength));
                        }
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(scratch);
                    }
                };
                if (pool is null)
                    body(0, tokens * shape.Heads);
                else
                    pool.For(tokens * shape.Heads, body);
            }
        }
    }

    private static int RoundUp(int n) => (n + Lanes - 1) / Lanes * Lanes;

    private static void Head(IKvCache cache, int layer, ReadOnlySpan<float> q, int n, int kvHead, AttentionShape shape,
        float[] scratch, Span<float> output)
    {
        int dk = shape.KeyLength, dv = shape.ValueLength, page = cache.PageSize;
        int dkPad = RoundUp(dk), dvPad = RoundUp(dv);
        var scores = scratch.AsSpan(0, n);
        var qh = scratch.AsSpan(RoundUp(n), dkPad);
        var acc = scratch.AsSpan(RoundUp(n) + dkPad, Lanes * dvPad);
        var vRow = scratch.AsSpan(RoundUp(n) + dkPad + Lanes * dvPad, dvPad);
        var kRow = scratch.AsSpan(RoundUp(n) + dkPad + Lanes * dvPad + dvPad, dvPad);
        qh.Clear();
        for (int i = 0; i < dk; i++)
            qh[i] = (float)(Half)q[i];

        for (int p0 = 0, pg = 0; p0 < n; p0 += page, pg++)
        {
            var keys = cache.Keys(layer, pg);
            int count = Math.Min(page, n - p0);
            for (int j = 0; j < count; j++)
            {
                var k = keys.Slice(j * cache.KeyWidth + kvHead * dk, dk);
                var sum = Vector512<float>.Zero;
                for (int c = 0; c < dk; c += Lanes)
                    sum = Vector512.FusedMultiplyAdd(Vector512.Create((ReadOnlySpan<float>)qh.Slice(c, Lanes)), Load(k, c, dk, kRow), sum);
                scores[p0 + j] = GgmlMath.Sum(sum) * shape.Scale;
            }
        }

        GgmlMath.SoftmaxPadded(scores);

        // Lane l accumulates positions l, l+16, l+32, … (tinyBLAS's FMA chain over 16-wide chunks of K = positions).
        acc.Clear();
        for (int p0 = 0, pg = 0; p0 < n; p0 += page, pg++)
        {
            var values = cache.Values(layer, pg);
            int count = Math.Min(page, n - p0);
            for (int j = 0; j < count; j++)
            {
                var p = Vector512.Create((float)(Half)scores[p0 + j]);
                var v = values.Slice(j * cache.ValueWidth + kvHead * dv, dv);
                var lane = acc.Slice(((p0 + j) % Lanes) * dvPad, dvPad);
                for (int d = 0; d < dv; d += Lanes)
                {
                    var a = Vector512.Create((ReadOnlySpan<float>)lane.Slice(d, Lanes));
                    Vector512.FusedMultiplyAdd(p, Load(v, d, dv, vRow), a).CopyTo(lane.Slice(d, Lanes));
                }
            }
        }
        Span<Vector512<float>> s = stackalloc Vector512<float>[Lanes];
        for (int d = 0; d < dv; d += Lanes)
        {
            // Per output, the 16 lane partial sums reduce as _mm512_reduce_add_ps: l+8, then l+4, then l+2, then l+1.
            for (int l = 0; l < Lanes; l++)
                s[l] = Vector512.Create((ReadOnlySpan<float>)acc.Slice(l * dvPad + d, Lanes));
            for (int l = 0; l < 8; l++)
                s[l] = s[l + 8] + s[l];
            for (int l = 0; l < 4; l++)
                s[l] = s[l + 4] + s[l];
            var r = (s[0] + s[2]) + (s[1] + s[3]);
            for (int k = 0; k < Lanes && d + k < dv; k++)
                output[d + k] = r[k];
        }
    }

    // 16 f16 values from offset as floats; a short tail is padded with zeros.
    private static Vector512<float> Load(ReadOnlySpan<Half> row, int offset, int length, Span<float> tmp)
    {
        if (offset + Lanes <= length)
        {
            var h = Vector256.Create(MemoryMarshal.Cast<Half, ushort>(row.Slice(offset, Lanes)));
            var w = Vector512.Create(Vector256.WidenLower(h), Vector256.WidenUpper(h));
            return Tensors.F16.ToFloat(w);
        }
        tmp[..Lanes].Clear();
        for (int i = offset; i < length; i++)
            tmp[i - offset] = (float)row[i];
        return Vector512.Create((ReadOnlySpan<float>)tmp[..Lanes]);
    }
}
