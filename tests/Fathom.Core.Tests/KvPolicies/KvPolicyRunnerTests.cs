using Fathom.KvCache;
using Fathom.KvPolicies;
using Fathom.Models;
using Fathom.Tests.KvCache;
using Fathom.Tests.Models;

namespace Fathom.Tests.KvPolicies;

// Policies through the real forward pass (ModelSession), on a small random GQA model.
public class KvPolicyRunnerTests
{
    private const int Layers = 2, KvHeads = 2;

    private static Model Random(int seed = 11) => Model.FromGguf(Gguf.GgufFile.FromBytes(
        TestGguf.RandomModel("llama", embd: 64, layers: Layers, heads: 4, kvHeads: KvHeads, keyLength: 32, vocab: 48, seed: seed).ToBytes()));

    private static int[] Tokens(int n, int seed = 3) => [.. Enumerable.Range(0, n).Select(i => (i * 7 + seed * 5 + i * i % 11) % 48)];

    // Prefill `prompt` tokens, then decode the rest one at a time; the logits of every decode step.
    private static float[][] Decode(Model m, SessionOptions o, int[] tokens, int prompt, Action<ModelSession>? afterStep = null)
    {
        using var s = m.CreateSession(o);
        s.Forward(tokens.AsSpan(0, prompt));
        afterStep?.Invoke(s);
        var steps = new List<float[]>();
        for (int t = prompt; t < tokens.Length; t++)
        {
            steps.Add(s.Forward(tokens.AsSpan(t, 1)).ToArray());
            afterStep?.Invoke(s);
        }
        return [.. steps];
    }

    public static TheoryData<string> Policies => ["window", "h2o", "snapkv", "pyramidkv", "quest:page=8:dense=0", "strided", "h2o:recent=3"];

    [Theory]
    [MemberData(nameof(Policies))]
    public void With_a_budget_of_the_context_every_policy_equals_full_attention(string spec)
    {
        using var m = Random();
        var tokens = Tokens(90);
        var o = new SessionOptions { ContextLength = 96, Attention = AttentionPath.Tiled, PageSize = 8, Threads = 2 };
        var full = Decode(m, o, tokens, 70);
        var policy = Decode(m, o with { KvPolicy = spec, KvBudget = 96 }, tokens, 70);
        for (int i = 0; i < full.Length; i++)
            Assert.Equal(full[i], policy[i]);
    }

    [Theory]
    [InlineData("window", 24)]
    [InlineData("h2o", 24)]
    [InlineData("window:sinks=0", 9)]
    public void Evicting_policies_bound_the_pages_held_past_the_context(string spec, int budget)
    {
        using var m = Random();
        var tokens = Tokens(150);
        const int page = 8, context = 64;
        int heldMax = 0, pagesMax = 0;
        var o = new SessionOptions { ContextLength = context, PageSize = page, KvPolicy = spec, KvBudget = budget, MaxPositions = 200 };
        var logits = Decode(m, o, tokens, 30, s =>
        {
            var r = s.PolicyRunner!;
            for (int l = 0; l < Layers; l++)
            {
                for (int h = 0; h < KvHeads; h++)
                    Assert.True(r.Residency.Count(l, h) <= budget, $"layer {l} head {h} keeps {r.Residency.Count(l, h)}");
                heldMax = Math.Max(heldMax, s.Sequence.SlotCount(l));
                // No page leaks: the pool holds exactly the pages the sequence's tables name.
            }
            int tablePages = Enumerable.Range(0, Layers).Sum(l => s.Sequence.PageCount(l));
            Assert.Equal(tablePages, s.KvCache.Accounting.PagesUsed);
            pagesMax = Math.Max(pagesMax, tablePages);
        });
        Assert.Equal(120, logits.Length);
        Assert.All(logits, row => Assert.All(row, x => Assert.True(float.IsFinite(x))));
        // A layer holds the union of its heads' positions, at most KvHeads × budget (identical sets for window), and
        // fewer than a page of slots no head keeps (decode steps mask those and drop them a page at a time).
        int bound = (spec.StartsWith("window", StringComparison.Ordinal) ? budget : KvHeads * budget) + page - 1;
        Assert.InRange(heldMax, 1, bound);
        Assert.True(pagesMax <= Layers * ((bound + page - 1) / page + 1), $"{pagesMax} pages");
    }

    [Theory]
    [InlineData("window:sinks=2", 16)]
    [InlineData("h2o:recent=4", 12)]
    public void Masked_evictions_dropped_a_page_at_a_time_give_the_logits_of_dropping_them_at_once(string spec, int budget)
    {
        using var m = Random();
        var tokens = Tokens(90);
        // No forced path: a cache holding masked slots must not be taken for a dense one (the exact path ignores masks).
        var o = new SessionOptions { ContextLength = 96, PageSize = 8, KvPolicy = spec, KvBudget = budget };
        // A prompt inside the budget: the first evictions come from decode steps, so only they mark the cache sparse.
        const int prompt = 10;
        int lagging = 0;
        var paged = Decode(m, o, tokens, prompt, s =>
        {
            int dead = s.Sequence.SlotCount(0) - Enumerable.Range(0, s.Sequence.SlotCount(0)).Count(slot =>
                Enumerable.Range(0, KvHeads).Any(h => s.PolicyRunner!.Residency.Contains(0, h, s.Sequence.Positions(0)[slot])));
            Assert.InRange(dead, 0, 7);
            if (dead > 0)
            {
                lagging++;
                Assert.False(s.Sequence.IsDense);
            }
        });
        using var eager = m.CreateSession(o);
        eager.PolicyRunner!.CompactEveryStep = true;
        eager.Forward(tokens.AsSpan(0, prompt));
        for (int t = prompt; t < tokens.Length; t++)
        {
            var row = eager.Forward(tokens.AsSpan(t, 1)).ToArray();
            var want = paged[t - prompt];
            for (int i = 0; i < row.Length; i++)
                Assert.True(Math.Abs(row[i] - want[i]) <= 1e-4f * Math.Max(1, Math.Abs(row[i])), $"step {t} logit {i}: {want[i]} against {row[i]}");
        }
        Assert.True(lagging > 0, "no step left masked slots in the cache");
        Assert.Equal(eager.KvEvictedSlots, KvEvictedAfter(m, o, tokens, prompt));
    }

    private static long KvEvictedAfter(Model m, SessionOptions o, int[] tokens, int prompt)
    {
        using var s = m.CreateSession(o);
        s.Forward(tokens.AsSpan(0, prompt));
        for (int t = prompt; t < tokens.Length; t++)
            s.Forward(tokens.AsSpan(t, 1));
        return s.KvEvictedSlots;
    }

    [Fact]
    public void A_small_window_changes_the_logits_once_it_evicts()
    {
        using var m = Random();
        var tokens = Tokens(60);
        var o = new SessionOptions { ContextLength = 64, PageSize = 4, Attention = AttentionPath.Tiled };
        var full = Decode(m, o, tokens, 40);
        var small = Decode(m, o with { KvPolicy = "window:sinks=2", KvBudget = 16 }, tokens, 40);
        Assert.NotEqual(full[^1], small[^1]);
    }

    [Fact]
    public void Quest_reads_only_its_top_pages()
    {
        using var m = Random();
        var tokens = Tokens(120);
        const int page = 8, budget = 24; // 3 pages per step
        var o = new SessionOptions { ContextLength = 128, KvPolicy = $"quest:page={page}:dense=1", KvBudget = budget };
        int steps = 0;
        Decode(m, o, tokens, 100, s =>
        {
            var r = s.PolicyRunner!;
            if (s.Position == 100)
                return;
            steps++;
            int pages = s.Sequence.PageCount(1);
            // Layer 0 is dense (reads every page); layer 1 reads 3 pages per KV head.
            Assert.Equal(KvHeads * (s.Sequence.PageCount(0) + 3), r.LastStepPages);
            Assert.Equal(KvHeads * pages, r.LastStepScoredPages);
            Assert.True(r.LastStepReads <= KvHeads * (s.Position + 3 * page));
            Assert.Equal(0, s.KvEvictedSlots);
        });
        Assert.Equal(20, steps);
    }

    [Fact]
    public void Quest_page_selection_is_the_top_k_by_upper_bound_with_the_sink_and_newest_page()
    {
        var geometry = new KvPolicyGeometry(1, 2, 2, 32, 32, 400, 8);
        using var mgr = new KvCacheManager(KvCacheManagerTests.Options(pageSize: 8, layers: 1, kvHeads: 2, dim: 32));
        var s = mgr.Create(400);
        for (int p = 0; p < 333; p++)
            KvCacheManagerTests.Append(s, p, p + 5);
        var quest = new QuestPolicy(40, page: 8, dense: 0);
        quest.Begin(geometry);
        var q = KvCacheManagerTests.Row(21, 2 * 2 * 32);
        for (int kh = 0; kh < 2; kh++)
        {
            var queries = q.AsSpan(kh * 2 * 32, 2 * 32).ToArray();
            var pages = new int[s.PageCount(0)];
            int n = quest.SelectPages(s, 0, kh, queries, pages);
            Assert.Equal(5, n);
            // The session path scores 8-bit copies of the bounds, rounded outward (minima down, maxima up).
            var score = new double[s.PageCount(0)];
            var q8 = new sbyte[64];
            for (int pg = 0; pg < score.Length; pg++)
            {
                s.KeyBounds(0, pg, out var mn, out var mx);
                float scale = KvSequence.QuantizeBounds(mn.Slice(kh * 32, 32), mx.Slice(kh * 32, 32), q8);
                for (int h = 0; h < 2; h++)
                {
                    for (int i = 0; i < 32; i++)
                        score[pg] += Math.Max(queries[h * 32 + i] * (double)(q8[32 + i] * scale), queries[h * 32 + i] * (double)(q8[i] * scale));
                }
            }
            score[0] = score[^1] = double.PositiveInfinity;
            var expected = Enumerable.Range(0, score.Length).OrderByDescending(i => score[i]).ThenBy(i => i).Take(5).Order().ToArray();
            Assert.Equal(expected, pages[..n]);
        }
    }

    [Fact]
    public void Reset_and_rewind_leave_no_pages_and_replay_the_same_logits()
    {
        using var m = Random();
        var tokens = Tokens(70);
        using var s = m.CreateSession(new SessionOptions { ContextLength = 80, KvPolicy = "quest:page=8:dense=0", KvBudget = 24 });
        s.Forward(tokens.AsSpan(0, 50));
        var first = Enumerable.Range(50, 10).Select(t => s.Forward(tokens.AsSpan(t, 1)).ToArray()).ToArray();
        s.Rewind(50);
        Assert.Equal(50, s.Position);
        var again = Enumerable.Range(50, 10).Select(t => s.Forward(tokens.AsSpan(t, 1)).ToArray()).ToArray();
        for (int i = 0; i < first.Length; i++)
            Assert.Equal(first[i], again[i]);
        s.Reset();
        Assert.Equal(0, s.KvCache.Accounting.PagesUsed);

        using var w = m.CreateSession(new SessionOptions { ContextLength = 80, KvPolicy = "window", KvBudget = 16 });
        w.Forward(tokens.AsSpan(0, 50));
        Assert.True(w.KvEvictedSlots > 0);
        Assert.Throws<InvalidOperationException>(() => w.Rewind(20));
        Assert.Throws<InvalidOperationException>(() => w.Shift(4));
        w.Reset();
        Assert.Equal(0, w.KvCache.Accounting.PagesUsed);
        w.Forward(tokens.AsSpan(0, 50));
        Assert.True(w.Sequence.SlotCount(0) <= 16);
    }

    [Fact]
    public void A_policy_that_keeps_everything_still_stops_at_the_cache_capacity()
    {
        using var m = Random();
        using var s = m.CreateSession(new SessionOptions { ContextLength = 20, KvPolicy = "strided", KvBudget = 8, MaxPositions = 100 });
        s.Forward(Tokens(20));
        Assert.Throws<KvCacheFullException>(() => s.Forward([1]));
        Assert.Throws<ArgumentException>(() => m.CreateSession(new SessionOptions { KvPolicy = "bogus" }));
        Assert.Throws<ArgumentException>(() => m.CreateSession(new SessionOptions { KvPolicy = "window", Attention = AttentionPath.Exact }));
    }
}
