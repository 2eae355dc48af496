using System.Runtime.Intrinsics;
using Fathom.Attention;
using Fathom.KvCache;
using Fathom.Models;
using Fathom.Tests.KvCache;
using Fathom.Threading;

namespace Fathom.Tests.Attention;

[Trait("Category", "Kernels")]
public class CausalAttentionTests
{
    // llama.cpp's non-flash CPU attention written plainly, one (token, head) at a time: Q rounded to f16,
    // each score a 16-lane FMA chain summed in _mm512_reduce_add_ps order, the padded softmax, the
    // probabilities rounded to f16, lane l of P·V accumulating positions l, l+16, … then the same tree.
    private static float[] Reference(IKvCache cache, int layer, float[] q, int tokens, int firstPosition, AttentionShape shape)
    {
        const int L = 16;
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength;
        int dkPad = (dk + L - 1) / L * L, dvPad = (dv + L - 1) / L * L;
        var o = new float[tokens * shape.Heads * dv];
        var qh = new float[dkPad];
        var k = new float[dkPad];
        var v = new float[dvPad];
        for (int t = 0; t < tokens; t++)
        {
            int n = firstPosition + t + 1;
            for (int h = 0; h < shape.Heads; h++)
            {
                int kh = h / g;
                Array.Clear(qh);
                for (int i = 0; i < dk; i++)
                    qh[i] = (float)(Half)q[(t * shape.Heads + h) * dk + i];
                var s = new float[n];
                for (int j = 0; j < n; j++)
                {
                    Row(cache.Keys(layer, j / cache.PageSize), (kh * cache.PageSize + j % cache.PageSize) * dk, dk, k);
                    var sum = Vector512<float>.Zero;
                    for (int c = 0; c < dkPad; c += L)
                        sum = Vector512.FusedMultiplyAdd(Vector512.Create(qh.AsSpan(c, L)), Vector512.Create(k.AsSpan(c, L)), sum);
                    s[j] = GgmlMath.Sum(sum) * shape.Scale;
                }
                GgmlMath.SoftmaxPadded(s);
                var acc = new Vector512<float>[L, dvPad / L];
                for (int j = 0; j < n; j++)
                {
                    Row(cache.Values(layer, j / cache.PageSize), (kh * cache.PageSize + j % cache.PageSize) * dv, dv, v);
                    var p = Vector512.Create((float)(Half)s[j]);
                    for (int c = 0; c < dvPad / L; c++)
                        acc[j % L, c] = Vector512.FusedMultiplyAdd(p, Vector512.Create(v.AsSpan(c * L, L)), acc[j % L, c]);
                }
                for (int c = 0; c < dvPad / L; c++)
                {
                    Vector512<float> Q(int i) => (acc[i + 8, c] + acc[i, c]) + (acc[i + 12, c] + acc[i + 4, c]);
                    var r = (Q(0) + Q(2)) + (Q(1) + Q(3));
                    for (int i = 0; i < L && c * L + i < dv; i++)
                        o[(t * shape.Heads + h) * dv + c * L + i] = r[i];
                }
            }
        }
        return o;
    }

    private static void Row(ReadOnlySpan<Half> src, int offset, int n, float[] dst)
    {
        Array.Clear(dst);
        for (int i = 0; i < n; i++)
            dst[i] = (float)src[offset + i];
    }

    // Random rows with some exact zeros, f16 subnormals and large values, so every widening path runs.
    private static float[] Values(Random r, int n, float scale)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = r.Next(40) switch
            {
                0 => 0f,
                1 => (float)(r.NextDouble() - 0.5) * 1e-5f,
                2 => (float)(r.NextDouble() - 0.5) * 2000f,
                _ => (float)(r.NextDouble() * 2 - 1) * scale,
            };
        }
        return x;
    }

    private static void Fill(IKvCache cache, int positions, int seed)
    {
        var r = new Random(seed);
        for (int l = 0; l < cache.LayerCount; l++)
        {
            for (int p = 0; p < positions; p++)
                cache.Store(l, p, Values(r, cache.KeyWidth, 1f), Values(r, cache.ValueWidth, 1f));
        }
    }

    private static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: output {i} is {actual[i]:R}, the plain loop gives {expected[i]:R}");
        }
    }

    [Theory]
    [InlineData(8, 2, 64, 64, 1, 299)]     // decode over two widening blocks
    [InlineData(8, 2, 64, 64, 11, 0)]      // prefill from empty: three tiles, the last short
    [InlineData(4, 4, 40, 24, 9, 250)]     // head sizes off the 16-lane grid, tiles across a block edge
    [InlineData(6, 2, 128, 80, 3, 530)]    // wide keys, a partial value chunk
    [InlineData(4, 1, 16, 16, 5, 15)]      // one KV head, sequences shorter than a 16-group
    [InlineData(4, 1, 16, 16, 1, 0)]       // decode of the first position
    [InlineData(8, 2, 64, 64, 1, 15)]      // decode over exactly one 16-group
    [InlineData(8, 4, 32, 32, 1, 16)]      // decode one past a 16-group
    public void Matches_the_plain_loop_bit_for_bit_on_a_contiguous_cache(int heads, int kvHeads, int dk, int dv, int tokens, int firstPosition)
    {
        var shape = new AttentionShape(heads, kvHeads, dk, dv, 1f / MathF.Sqrt(dk));
        var cache = new ContiguousKvCache(2, firstPosition + tokens + 7, kvHeads, kvHeads * dk, kvHeads * dv);
        Fill(cache, firstPosition + tokens, heads * 100 + dk);
        var r = new Random(tokens);
        foreach (float qScale in new[] { 1f, 40f })
        {
            // A large query scale spreads the scores past exp's normal range (groups that underflow).
            var q = Values(r, tokens * heads * dk, qScale);
            var o = new float[tokens * heads * dv];
            CausalAttention.Compute(cache, 1, q, tokens, firstPosition, shape, o, null);
            AssertBitwise(Reference(cache, 1, q, tokens, firstPosition, shape), o, $"q×{qScale}");
        }
    }

    [Theory]
    [InlineData(1, 37)]
    [InlineData(2, 300)]
    [InlineData(3, 130)]
    [InlineData(5, 64)]
    public void Decode_matches_the_plain_loop_on_a_paged_cache_for_any_thread_count(int threads, int positions)
    {
        // Decode reads whole rows in phases split by position groups, heads and lanes; 7-slot pages cut the groups.
        var shape = new AttentionShape(8, 2, 64, 64, 0.125f);
        using var m = new KvCacheManager(KvCacheManagerTests.Options(KvType.F16, KvType.F16, pageSize: 7, layers: 1, kvHeads: 2, dim: 64));
        var s = m.Create(1024);
        Fill(s, positions, threads);
        var q = Values(new Random(positions), 8 * 64, 3f);
        using var pool = new WorkerPool(threads);
        var o = new float[8 * 64];
        CausalAttention.Compute(s, 0, q, 1, positions - 1, shape, o, pool);
        AssertBitwise(Reference(s, 0, q, 1, positions - 1, shape), o, $"{threads} threads, {positions} positions");
    }

    [Fact]
    public void Matches_the_plain_loop_on_a_paged_cache_with_threads()
    {
        // Pages of 7 positions: page edges fall inside 16-groups and widening blocks.
        var shape = new AttentionShape(8, 2, 64, 64, 0.125f);
        using var m = new KvCacheManager(KvCacheManagerTests.Options(KvType.F16, KvType.F16, pageSize: 7, layers: 1, kvHeads: 2, dim: 64));
        var s = m.Create(1024);
        Fill(s, 300, 5);
        var q = Values(new Random(6), 6 * 8 * 64, 2f);
        var expected = Reference(s, 0, q, 6, 294, shape);
        using var pool = new WorkerPool(2);
        var o = new float[6 * 8 * 64];
        CausalAttention.Compute(s, 0, q, 6, 294, shape, o, pool);
        AssertBitwise(expected, o, "prefill");
        var d = new float[8 * 64];
        CausalAttention.Compute(s, 0, q.AsSpan(5 * 8 * 64), 1, 299, shape, d, pool);
        AssertBitwise(expected[(5 * 8 * 64)..], d, "decode");
    }

    [Fact]
    public void Rejects_small_buffers_and_positions_past_the_cache()
    {
        var shape = new AttentionShape(2, 1, 16, 16, 0.25f);
        var cache = new ContiguousKvCache(1, 8, 1, 16, 16);
        Assert.Throws<ArgumentException>(() => CausalAttention.Compute(cache, 0, new float[31], 1, 0, shape, new float[32], null));
        Assert.Throws<ArgumentOutOfRangeException>(() => CausalAttention.Compute(cache, 0, new float[64], 2, 7, shape, new float[64], null));
    }
}
