using CsCheck;
using Fathom.KvCache;

namespace Fathom.Tests.KvCache;

public class KvCacheManagerTests
{
    internal static KvCacheOptions Options(KvType k = KvType.F32, KvType v = KvType.F32, int pageSize = 4, int layers = 2, int kvHeads = 2, int dim = 32) =>
        new() { Layers = layers, KvHeads = kvHeads, KeyLength = dim, ValueLength = dim, PageSize = pageSize, KeyType = k, ValueType = v, TrackKeyBounds = true };

    internal static float[] Row(int seed, int width)
    {
        var r = new Random(seed);
        var x = new float[width];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(r.NextDouble() * 2 - 1);
        return x;
    }

    internal static void Append(KvSequence s, int position, int seed)
    {
        for (int l = 0; l < s.LayerCount; l++)
            s.Store(l, position, Row(seed * 31 + l, s.KeyWidth), Row(seed * 37 + l + 1000, s.ValueWidth));
    }

    [Fact]
    public void Bytes_per_token_follow_the_formula_for_every_type()
    {
        foreach (var t in new[] { KvType.F32, KvType.F16, KvType.Q8_0, KvType.Q4_0 })
        {
            var o = Options(t, t, layers: 3, kvHeads: 2, dim: 64);
            double expected = 2.0 * 3 * 2 * 64 * KvTypes.BytesPerElement(t);
            Assert.Equal(expected, o.BytesPerToken);
            Assert.Equal(o.PageSize * o.BytesPerToken / 3, o.PageBytes);
        }
    }

    [Fact]
    public void Quantized_types_need_whole_blocks_per_head()
    {
        using var ok = new KvCacheManager(Options(KvType.Q4_0, KvType.Q8_0, dim: 64));
        Assert.Throws<ArgumentException>(() => new KvCacheManager(Options(KvType.Q4_0, KvType.F16, dim: 48)));
    }

    [Fact]
    public void Stored_rows_read_back_within_the_type_precision()
    {
        foreach (var (t, tol) in new[] { (KvType.F32, 0.0), (KvType.F16, 1e-3), (KvType.Q8_0, 1e-2), (KvType.Q4_0, 0.15) })
        {
            using var m = new KvCacheManager(Options(t, t));
            var s = m.Create(32);
            for (int p = 0; p < 9; p++)
                Append(s, p, p);
            var buf = new float[32];
            for (int p = 0; p < 9; p++)
            {
                for (int h = 0; h < 2; h++)
                {
                    s.ReadKey(1, p, h, buf);
                    var k = Row(p * 31 + 1, 64).AsSpan(h * 32, 32);
                    for (int i = 0; i < 32; i++)
                        Assert.True(Math.Abs(buf[i] - k[i]) <= tol, $"{t}: key {p}/{h}/{i}: {buf[i]} vs {k[i]}");
                    s.ReadValue(0, p, h, buf);
                    var v = Row(p * 37 + 1000, 64).AsSpan(h * 32, 32);
                    for (int i = 0; i < 32; i++)
                        Assert.True(Math.Abs(buf[i] - v[i]) <= tol, $"{t}: value {p}/{h}/{i}");
                }
            }
            Assert.Equal(3, s.PageCount(0));
            Assert.Equal(1, s.PageRows(0, 2));
        }
    }

    [Fact]
    public void Fork_shares_pages_and_copies_the_partial_last_page_on_write()
    {
        using var m = new KvCacheManager(Options());
        var a = m.Create(64);
        for (int p = 0; p < 6; p++)
            Append(a, p, p);
        int used = m.Accounting.PagesUsed;
        var b = m.Fork(a);
        Assert.Equal(used, m.Accounting.PagesUsed);
        Assert.Equal(2, m.Pool.RefCount(a.PageId(0, 1)));
        Append(b, 6, 100);
        Assert.NotEqual(a.PageId(0, 1), b.PageId(0, 1));
        Assert.Equal(a.PageId(0, 0), b.PageId(0, 0));
        var x = new float[32];
        a.ReadKey(0, 5, 0, x);
        Assert.Equal(Row(5 * 31, 64)[..32], x);
        Assert.Equal(6, a.SlotCount(0));
        Assert.Equal(7, b.SlotCount(0));
        m.Free(a);
        m.Free(b);
        Assert.Equal(0, m.Accounting.PagesUsed);
        Assert.Throws<InvalidOperationException>(() => m.Free(a));
    }

    [Fact]
    public void Retain_compacts_keeps_positions_and_releases_pages()
    {
        using var m = new KvCacheManager(Options());
        var s = m.Create(64);
        for (int p = 0; p < 10; p++)
            Append(s, p, p);
        var other = m.Fork(s);
        s.Retain(0, [0, 3, 7, 9]);
        Assert.Equal([0, 3, 7, 9], s.Positions(0).ToArray());
        Assert.Equal(1, s.PageCount(0));
        Assert.False(s.IsDense);
        var x = new float[32];
        s.ReadKey(0, 2, 1, x);
        Assert.Equal(Row(7 * 31, 64)[32..], x);
        other.ReadKey(0, 2, 1, x);
        Assert.Equal(Row(2 * 31, 64)[32..], x);
        s.KeyBounds(0, 0, out var min, out var max);
        for (int i = 0; i < 64; i++)
        {
            float lo = new[] { 0, 3, 7, 9 }.Min(p => Row(p * 31, 64)[i]);
            Assert.Equal(lo, min[i]);
            Assert.True(max[i] >= min[i]);
        }
        Assert.Throws<ArgumentException>(() => s.Retain(0, [2, 1]));
        m.Free(s);
        m.Free(other);
        Assert.Equal(0, m.Accounting.PagesUsed);
    }

    [Fact]
    public void Storing_an_earlier_position_rewinds()
    {
        using var m = new KvCacheManager(Options());
        var s = m.Create(64);
        for (int p = 0; p < 10; p++)
            Append(s, p, p);
        Append(s, 4, 99);
        Assert.Equal(5, s.SlotCount(0));
        Assert.Equal(5, s.NextPosition);
        Assert.Equal(2, m.Accounting.PagesUsed / 2);
    }

    [Fact]
    public void Capacity_and_pool_limits_are_typed_errors()
    {
        using var m = new KvCacheManager(Options() with { MaxPages = 2 });
        var s = m.Create(100);
        Append(s, 0, 0);
        Assert.Throws<KvCacheFullException>(() => m.Create(100).Store(0, 0, Row(1, 64), Row(2, 64)));
        using var m2 = new KvCacheManager(Options());
        var t = m2.Create(2);
        Append(t, 0, 0);
        Append(t, 1, 1);
        Assert.Throws<KvCacheFullException>(() => t.Store(0, 2, Row(1, 64), Row(2, 64)));
    }

    // Random create/append/fork/retain/truncate/free sequences: refcounts equal the number of tables
    // holding each page, data read back is what was written, and freeing everything leaves no page used.
    [Fact]
    public void Random_operations_never_leak_and_keep_refcounts_exact()
    {
        Gen.Int[0, int.MaxValue].Sample(seed =>
        {
            var r = new Random(seed);
            using var m = new KvCacheManager(Options(KvType.F16, KvType.Q8_0, pageSize: 1 + r.Next(5)));
            var live = new List<(KvSequence S, List<int> Seeds)>();
            for (int step = 0; step < 60; step++)
            {
                int op = r.Next(6);
                if (op == 0 || live.Count == 0)
                {
                    live.Add((m.Create(64), []));
                }
                else
                {
                    int i = r.Next(live.Count);
                    var (s, seeds) = live[i];
                    switch (op)
                    {
                        case 1:
                        case 2:
                            if (seeds.Count < 64)
                            {
                                int sd = r.Next(10000);
                                Append(s, s.NextPosition, sd);
                                seeds.Add(sd);
                            }
                            break;
                        case 3:
                            live.Add((m.Fork(s), [.. seeds]));
                            break;
                        case 4:
                            int keep = r.Next(seeds.Count + 1);
                            s.Truncate(keep);
                            seeds.RemoveRange(keep, seeds.Count - keep);
                            break;
                        default:
                            m.Free(s);
                            live.RemoveAt(i);
                            break;
                    }
                }
                var holders = new Dictionary<int, int>();
                foreach (var (s, seeds) in live)
                {
                    for (int l = 0; l < s.LayerCount; l++)
                    {
                        for (int p = 0; p < s.PageCount(l); p++)
                            holders[s.PageId(l, p)] = holders.GetValueOrDefault(s.PageId(l, p)) + 1;
                    }
                    var x = new float[32];
                    for (int slot = 0; slot < seeds.Count; slot++)
                    {
                        s.ReadKey(1, slot, 0, x);
                        var k = Row(seeds[slot] * 31 + 1, 64);
                        for (int j = 0; j < 32; j++)
                            Assert.True(Math.Abs(x[j] - k[j]) < 1e-3);
                    }
                }
                Assert.Equal(holders.Count, m.Accounting.PagesUsed);
                foreach (var (page, n) in holders)
                    Assert.Equal(n, m.Pool.RefCount(page));
            }
            foreach (var (s, _) in live)
                m.Free(s);
            Assert.Equal(0, m.Accounting.PagesUsed);
        }, iter: 40);
    }
}
