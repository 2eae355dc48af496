using System.Runtime.InteropServices;
using Fathom.Engine;

namespace Fathom.Engine.Tests.Engine;

public class SchedulerTests
{
    private static Sequence Seq(long id, int length, int seed = 0, string? tenant = null, params CacheBreakpoint[] bps)
        => new(id, Enumerable.Range(0, length).Select(i => (i * 31 + seed) % 500).ToArray(), PageHash.Root(tenant), bps);

    /// <summary>Plays the executor: advances what was scheduled, samples a token when a sequence is caught up, finishes after maxOut outputs.</summary>
    private static StepPlan Step(Scheduler s, int maxOut, List<Sequence>? finished = null)
    {
        var plan = s.Schedule();
        Assert.True(plan.TokenCount <= s.MaxBatchTokens);
        Assert.Equal(plan.TokenCount, plan.Scheduled.Sum(x => x.Tokens));
        Assert.True(s.RunningCount <= s.MaxSequences);
        foreach (var (seq, n) in plan.Scheduled)
        {
            Assert.True(n > 0);
            s.Advance(seq, n);
            if (seq.Computed == seq.Tokens.Count)
            {
                seq.Tokens.Add(7);
                if (seq.OutputCount >= maxOut)
                {
                    s.Finish(seq);
                    finished?.Add(seq);
                }
            }
        }
        foreach (var seq in plan.Exhausted)
            s.Finish(seq);
        CheckRefCounts(s);
        return plan;
    }

    private static void CheckRefCounts(Scheduler s)
    {
        var refs = new Dictionary<int, int>();
        foreach (var seq in s.Running)
        {
            Assert.Equal(seq.Pages.Count, seq.Pages.Distinct().Count());
            Assert.True(seq.Pages.Count * s.Pool.PageSize >= seq.Computed);
            foreach (int p in seq.Pages)
                refs[p] = refs.GetValueOrDefault(p) + 1;
        }
        foreach (var (page, count) in refs)
            Assert.Equal(count, s.Pool.RefCount(page));
        Assert.Equal(refs.Count, s.Pool.InUse);
    }

    [Fact]
    public void Decode_gets_one_token_and_prefill_is_chunked_under_the_budget()
    {
        var s = new Scheduler(new PagePool(64, 16), maxBatchTokens: 64, maxSequences: 8);
        s.Add(Seq(1, 100));
        s.Add(Seq(2, 10));
        var plan = Step(s, 5);
        Assert.Equal([(1L, 64)], plan.Scheduled.Select(x => (x.Sequence.Id, x.Tokens)));
        plan = Step(s, 5);
        Assert.Equal([(1L, 36), (2L, 10)], plan.Scheduled.Select(x => (x.Sequence.Id, x.Tokens)));
        plan = Step(s, 5);
        Assert.Equal([(1L, 1), (2L, 1)], plan.Scheduled.Select(x => (x.Sequence.Id, x.Tokens)));
    }

    [Fact]
    public void Sequences_join_and_leave_between_steps_and_every_page_returns()
    {
        var s = new Scheduler(new PagePool(40, 8), maxBatchTokens: 32, maxSequences: 3);
        var finished = new List<Sequence>();
        var rng = new Random(5);
        for (int i = 0; i < 12; i++)
            s.Add(Seq(i, rng.Next(1, 60), i));
        for (int step = 0; step < 2000 && s.HasWork; step++)
        {
            Step(s, 6, finished);
            if (step % 7 == 0)
                s.Add(Seq(100 + step, rng.Next(1, 30), step));
        }
        Assert.False(s.HasWork);
        Assert.All(finished, f => Assert.Equal(6, f.OutputCount));
        Assert.Equal(0, s.Pool.InUse);
        Assert.Equal(s.Pool.Capacity, s.Pool.Available);
    }

    [Fact]
    public void A_shared_prefix_is_found_by_page_and_counts_as_cached()
    {
        var s = new Scheduler(new PagePool(32, 16), 512, 4);
        var a = Seq(1, 40);
        s.Add(a);
        while (a.State != SequenceState.Finished)
            Step(s, 2);
        var b = new Sequence(2, [.. a.Tokens.Take(40), 1, 2, 3], PageHash.Root(null));
        s.Add(b);
        var plan = Step(s, 1);
        Assert.Equal(32, b.CachedPromptTokens);
        Assert.Equal([(2L, 43 - 32)], plan.Scheduled.Select(x => (x.Sequence.Id, x.Tokens)));
        Assert.Equal(0, s.Pool.InUse);
    }

    [Fact]
    public void Concurrent_sequences_share_cached_pages_with_reference_counts()
    {
        var s = new Scheduler(new PagePool(32, 8), 512, 4);
        var a = Seq(1, 30);
        s.Add(a);
        Step(s, 100);
        var b = Seq(2, 30);
        s.Add(b);
        Step(s, 100);
        Assert.Equal(24, b.CachedPromptTokens);
        Assert.Equal(a.Pages.Take(3), b.Pages.Take(3));
        Assert.All(a.Pages.Take(3), p => Assert.Equal(2, s.Pool.RefCount(p)));
        s.Finish(a);
        Assert.All(b.Pages.Take(3), p => Assert.Equal(1, s.Pool.RefCount(p)));
        s.Finish(b);
        Assert.Equal(0, s.Pool.InUse);
    }

    [Fact]
    public void Tenants_never_share_pages()
    {
        var s = new Scheduler(new PagePool(32, 8), 512, 4);
        var a = Seq(1, 30, tenant: "alice");
        s.Add(a);
        Step(s, 100);
        var b = Seq(2, 30, tenant: "bob");
        var c = Seq(3, 30, tenant: "alice");
        s.Add(b);
        s.Add(c);
        Step(s, 100);
        Assert.Equal(0, b.CachedPromptTokens);
        Assert.Empty(a.Pages.Intersect(b.Pages));
        Assert.Equal(24, c.CachedPromptTokens);
    }

    [Fact]
    public void A_full_pool_preempts_the_latest_sequence_instead_of_failing()
    {
        var s = new Scheduler(new PagePool(6, 4), 64, 4);
        var a = Seq(1, 8);
        var b = Seq(2, 8, 1);
        s.Add(a);
        s.Add(b);
        Step(s, 100);
        Assert.Equal(4, s.Pool.InUse);
        bool preempted = false;
        for (int i = 0; i < 20 && !preempted; i++)
            preempted = Step(s, 100).Preempted.Contains(b);
        Assert.True(preempted);
        Assert.Equal(0, b.Computed);
        Assert.Empty(b.Pages);
        Assert.Equal(SequenceState.Waiting, b.State);
        Assert.Equal(1, b.Preemptions);
        Assert.Equal(SequenceState.Running, a.State);
    }

    [Fact]
    public void A_lone_sequence_that_outgrows_the_pool_is_reported_exhausted()
    {
        var s = new Scheduler(new PagePool(2, 4), 64, 4);
        var a = Seq(1, 7);
        s.Add(a);
        StepPlan plan;
        int steps = 0;
        do
        {
            plan = Step(s, 100);
        }
        while (plan.Exhausted.Count == 0 && ++steps < 10);
        Assert.Equal([a], plan.Exhausted);
        Assert.Equal(0, s.Pool.InUse);
    }

    [Fact]
    public void Admission_waits_when_pages_run_short_and_resumes_when_they_free()
    {
        var s = new Scheduler(new PagePool(4, 4), 64, 4);
        var a = Seq(1, 12);
        var b = Seq(2, 12, 3);
        s.Add(a);
        s.Add(b);
        var plan = Step(s, 1);
        Assert.Equal([1L], plan.Scheduled.Select(x => x.Sequence.Id));
        Assert.Equal(1, s.WaitingCount);
        Step(s, 1);
        Assert.NotEqual(SequenceState.Waiting, b.State);
        Assert.Equal(0, s.WaitingCount);
    }

    [Fact]
    public void Breakpoints_pin_the_prompt_pages_for_their_ttl()
    {
        var clock = new ManualClock();
        var s = new Scheduler(new PagePool(8, 4, clock), 64, 4, clock);
        var a = Seq(1, 13, 0, null, CacheBreakpoint.WholePrompt(CacheBreakpoint.LongTtl));
        s.Add(a);
        Step(s, 100);
        var pages = a.Pages.Take(3).ToArray();
        Assert.All(pages, p => Assert.True(s.Pool.IsPinned(p)));
        Assert.False(s.Pool.IsPinned(a.Pages[3]));
        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.All(pages, p => Assert.True(s.Pool.IsPinned(p)));
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.All(pages, p => Assert.False(s.Pool.IsPinned(p)));
    }

    [Fact]
    public void An_executor_holding_fewer_tokens_than_the_cache_recomputes_from_there()
    {
        var pool = new PagePool(16, 4);
        var s = new Scheduler(pool, 64, 4, attach: (_, cached) => cached / 2);
        var a = Seq(1, 17);
        s.Add(a);
        Step(s, 1);
        var b = Seq(2, 17);
        s.Add(b);
        var plan = Step(s, 100);
        Assert.Equal(8, b.CachedPromptTokens);
        Assert.Equal([(2L, 9)], plan.Scheduled.Select(x => (x.Sequence.Id, x.Tokens)));
        Assert.Equal(CollectionsMarshal.AsSpan(a.Tokens)[..16].ToArray(), CollectionsMarshal.AsSpan(b.Tokens)[..16].ToArray());
    }
}
