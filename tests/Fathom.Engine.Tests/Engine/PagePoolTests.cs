using Fathom.Engine;

namespace Fathom.Engine.Tests.Engine;

public class PagePoolTests
{
    [Fact]
    public void Unkeyed_pages_return_to_the_free_list()
    {
        var pool = new PagePool(4, 16);
        var pages = new List<int>();
        while (pool.TryAllocate(out int p))
            pages.Add(p);
        Assert.Equal(4, pages.Distinct().Count());
        Assert.Equal(0, pool.Available);
        foreach (int p in pages)
            pool.Release(p);
        Assert.Equal(4, pool.Available);
        Assert.Equal(0, pool.InUse);
        Assert.Throws<InvalidOperationException>(() => pool.Release(pages[0]));
    }

    [Fact]
    public void Keyed_pages_stay_cached_until_evicted_in_LRU_order()
    {
        var pool = new PagePool(3, 4);
        var keys = new UInt128[] { 11, 22, 33 };
        var pages = new int[3];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(pool.TryAllocate(out pages[i]));
            pool.Register(pages[i], keys[i]);
        }
        pool.Release(pages[1]);
        pool.Release(pages[0]);
        pool.Release(pages[2]);
        Assert.Equal(3, pool.CachedPages);
        Assert.Equal(3, pool.Available);

        // A hit takes the page back out of the LRU.
        Assert.True(pool.TryLookup(22, out int hit));
        Assert.Equal(pages[1], hit);
        pool.Retain(hit);
        Assert.Equal(2, pool.Available);

        // The least recently released unused page (pages[0]) goes first.
        Assert.True(pool.TryAllocate(out int fresh));
        Assert.Equal(pages[0], fresh);
        Assert.False(pool.TryLookup(11, out _));
        Assert.True(pool.TryLookup(33, out _));
        Assert.Equal(1, pool.Evictions);
    }

    [Fact]
    public void Pinned_pages_are_evicted_after_unpinned_ones_until_the_pin_expires()
    {
        var clock = new ManualClock();
        var pool = new PagePool(3, 4, clock);
        var p = new int[3];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(pool.TryAllocate(out p[i]));
            pool.Register(p[i], (UInt128)(i + 1));
        }
        pool.Pin(p[0], clock.GetUtcNow() + CacheBreakpoint.DefaultTtl);
        foreach (int page in p)
            pool.Release(page);

        Assert.True(pool.TryAllocate(out int first));
        Assert.Equal(p[1], first);
        Assert.True(pool.TryLookup(1, out _));

        // After the TTL, plain LRU order again: p[0] was released before p[2].
        clock.Advance(TimeSpan.FromMinutes(6));
        Assert.False(pool.IsPinned(p[0]));
        Assert.True(pool.TryAllocate(out int second));
        Assert.Equal(p[0], second);
    }

    [Fact]
    public void Only_pinned_pages_left_still_allocate_the_one_expiring_soonest()
    {
        var clock = new ManualClock();
        var pool = new PagePool(2, 4, clock);
        Assert.True(pool.TryAllocate(out int a));
        Assert.True(pool.TryAllocate(out int b));
        pool.Register(a, 1);
        pool.Register(b, 2);
        pool.Pin(a, clock.GetUtcNow() + TimeSpan.FromHours(1));
        pool.Pin(b, clock.GetUtcNow() + TimeSpan.FromMinutes(5));
        pool.Release(b);
        pool.Release(a);
        Assert.True(pool.TryAllocate(out int p));
        Assert.Equal(b, p);
    }

    [Fact]
    public void Chained_hashes_depend_on_the_parent_and_the_tenant()
    {
        int[] page = [1, 2, 3, 4];
        var shared = PageHash.Root(null);
        Assert.NotEqual(shared, PageHash.Root(""));
        Assert.NotEqual(PageHash.Root("a"), PageHash.Root("b"));
        Assert.Equal(PageHash.Next(shared, page), PageHash.Next(PageHash.Root(null), page));
        Assert.NotEqual(PageHash.Next(shared, page), PageHash.Next(PageHash.Root("a"), page));
        var child = PageHash.Next(shared, page);
        Assert.NotEqual(PageHash.Next(child, page), child);
        Assert.NotEqual(PageHash.Next(shared, [1, 2, 3, 5]), child);
    }
}
