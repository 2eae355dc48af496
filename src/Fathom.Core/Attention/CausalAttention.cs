using System.Buffers;

namespace Fathom.Attention;

/// <summary>Head geometry for one attention call.</summary>
internal readonly record struct AttentionShape(int Heads, int KvHeads, int KeyLength, int ValueLength, float Scale)
{
    public int Group => Heads / KvHeads;
}

/// <summary>
/// Plain causal attention over an <see cref="IKvCache"/>, rounding like llama.cpp's non-flash path:
/// the query is converted to f16 for Q·K, softmax runs in float32 with a double sum, and the
/// probabilities are converted to f16 for the product with V.
/// </summary>
internal static class CausalAttention
{
    /// <summary>
    /// For token t (position firstPosition + t) and head h, writes softmax(scale·q·Kᵀ)·V over positions
    /// 0..firstPosition+t into output[t, h·ValueLength …]. The cache must already hold those positions.
    /// </summary>
    public static void Compute(IKvCache cache, int layer, ReadOnlySpan<float> q, int tokens, int firstPosition,
        AttentionShape shape, Span<float> output, Threading.WorkerPool? pool)
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
                    float[] scores = ArrayPool<float>.Shared.Rent(firstPosition + tokens);
                    try
                    {
                        for (int i = i0; i < i1; i++)
                        {
                            int t = i / shape.Heads, h = i % shape.Heads;
                            Head(cache, layer, new ReadOnlySpan<float>(qs + (long)t * qWidth + h * shape.KeyLength, shape.KeyLength),
                                firstPosition + t + 1, h / shape.Group, shape, scores,
                                new Span<float>(os + (long)t * oWidth + h * shape.ValueLength, shape.ValueLength));
                        }
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(scores);
                    }
                };
                if (pool is null)
                    body(0, tokens * shape.Heads);
                else
                    pool.For(tokens * shape.Heads, body);
            }
        }
    }

    private static void Head(IKvCache cache, int layer, ReadOnlySpan<float> q, int n, int kvHead, AttentionShape shape,
        float[] scores, Span<float> output)
    {
        int dk = shape.KeyLength, dv = shape.ValueLength, page = cache.PageSize;
        Span<float> qh = stackalloc float[dk];
        for (int i = 0; i < dk; i++)
            qh[i] = (float)(Half)q[i];

        float max = float.NegativeInfinity;
        for (int p0 = 0, pg = 0; p0 < n; p0 += page, pg++)
        {
            var keys = cache.Keys(layer, pg);
            int count = Math.Min(page, n - p0);
            for (int j = 0; j < count; j++)
            {
                var k = keys.Slice(j * cache.KeyWidth + kvHead * dk, dk);
                float s = 0;
                for (int i = 0; i < dk; i++)
                    s += qh[i] * (float)k[i];
                s *= shape.Scale;
                scores[p0 + j] = s;
                if (s > max)
                    max = s;
            }
        }

        double sum = 0;
        for (int j = 0; j < n; j++)
        {
            float e = MathF.Exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);

        output.Clear();
        for (int p0 = 0, pg = 0; p0 < n; p0 += page, pg++)
        {
            var values = cache.Values(layer, pg);
            int count = Math.Min(page, n - p0);
            for (int j = 0; j < count; j++)
            {
                float p = (float)(Half)(scores[p0 + j] * inv);
                var v = values.Slice(j * cache.ValueWidth + kvHead * dv, dv);
                for (int d = 0; d < dv; d++)
                    output[d] += p * (float)v[d];
            }
        }
    }
}
