using Fathom.KvCache;

namespace Fathom.Tests.KvCache;

public class BlockPoolTests
{
    [Fact]
    public void Freed_pages_are_reused()
    {
        using var p = new BlockPool(128);
        int a = p.Allocate(), b = p.Allocate();
        p.Release(a);
        Assert.Equal(1, p.PagesUsed);
        Assert.Equal(1, p.PagesFree);
        Assert.Equal(a, p.Allocate());
        Assert.All(p.Data(a), x => Assert.Equal(0, x));
        p.Retain(b);
        p.Release(b);
        Assert.Equal(1, p.RefCount(b));
        p.Release(b);
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Data(b));
    }

    [Fact]
    public void Pages_past_the_ram_budget_spill_and_come_back_intact()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fathom-kv-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var p = new BlockPool(256, ramBytes: 4 * 256, spillDirectory: dir);
            var ids = new List<int>();
            for (int i = 0; i < 20; i++)
            {
                int id = p.Allocate();
                p.Data(id).AsSpan().Fill((byte)(i + 1));
                ids.Add(id);
            }
            var st = p.Stats;
            Assert.True(st.RamBytes <= 4 * 256, $"{st.RamBytes} bytes in RAM");
            Assert.Equal(20 * 256, st.RamBytes + st.DiskBytes);
            for (int i = 0; i < 20; i++)
                Assert.All(p.Data(ids[i]), x => Assert.Equal((byte)(i + 1), x));
            Assert.True(p.Stats.DiskReads >= 16);
            foreach (int id in ids)
                p.Release(id);
            Assert.Equal(0, p.PagesUsed);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_prefetch_that_outlives_the_pool_does_nothing()
    {
        // Prefetches run on pool threads, where an exception would end the process; one that finds the pool
        // disposed (or its page released) must simply stop, and a spilled page cannot be read back afterwards.
        string dir = Path.Combine(Path.GetTempPath(), "fathom-kv-" + Guid.NewGuid().ToString("N"));
        try
        {
            var p = new BlockPool(256, ramBytes: 2 * 256, spillDirectory: dir);
            var ids = Enumerable.Range(0, 12).Select(_ => p.Allocate()).ToArray();
            Assert.True(p.Stats.DiskBytes > 0);
            foreach (int id in ids)
                p.Prefetch(id);
            p.Release(ids[1]);
            p.Dispose();
            foreach (int id in ids)
                p.Prefetch(id);
            Thread.Sleep(200);
            int spilled = ids.Where(id => id != ids[1]).First(id =>
            {
                try
                {
                    p.Data(id);
                    return false;
                }
                catch (ObjectDisposedException)
                {
                    return true;
                }
            });
            Assert.Throws<ObjectDisposedException>(() => p.Data(spilled));
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }
}
