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
}
