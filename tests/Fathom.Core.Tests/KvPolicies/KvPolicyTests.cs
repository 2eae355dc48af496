using CsCheck;
using Fathom.KvPolicies;

namespace Fathom.Tests.KvPolicies;

public class KvPolicyTests
{
    private static readonly string[] Specs = ["full", "window", "h2o", "snapkv", "pyramidkv", "quest:dense=1:page=4", "strided"];

    private static Gen<(KvPolicyGeometry G, int Prefill, int Steps, int Seed)> Cases =>
        from layers in Gen.Int[1, 3]
        from kvHeads in Gen.Int[1, 2]
        from groupSize in Gen.Int[1, 3]
        from prefill in Gen.Int[1, 40]
        from steps in Gen.Int[1, 12]
        from page in Gen.Int[1, 8]
        from seed in Gen.Int
        select (new KvPolicyGeometry(layers, kvHeads, groupSize, 8, 4, prefill + steps, page), prefill, steps, seed);

    [Fact]
    public void A_budget_at_least_the_context_gives_exactly_full_attention()
    {
        Cases.Sample(c =>
        {
            var reference = new PolicyDriver(c.G, c.Seed);
            reference.Run(KvPolicy.Create("full", 1), c.Prefill, c.Steps);
            foreach (string spec in Specs)
            {
                var driver = new PolicyDriver(c.G, c.Seed);
                driver.Run(KvPolicy.Create(spec, c.G.Context), c.Prefill, c.Steps);
                for (int s = 0; s < c.Steps; s++)
                    Assert.True(reference.Outputs[s].SequenceEqual(driver.Outputs[s]), $"{spec} differs from full at step {s}");
                Assert.Equal(c.G.Layers * c.G.KvHeads * (long)c.G.Context, driver.Residency.Entries);
            }
        }, iter: 60);
    }

    [Fact]
    public void No_page_leaks_under_any_policy_and_budget()
    {
        (from c in Cases from budget in Gen.Int[1, 50] select (c, budget)).Sample(x =>
        {
            var (c, budget) = x;
            foreach (string spec in Specs)
            {
                var driver = new PolicyDriver(c.G, c.Seed);
                driver.Run(KvPolicy.Create(spec, budget), c.Prefill, c.Steps);
                for (int l = 0; l < c.G.Layers; l++)
                    Assert.Equal(driver.RecountPages(l), driver.Residency.PagesHeld(l));
                driver.Residency.Clear();
                Assert.Equal(0, driver.Residency.TotalPagesHeld);
                Assert.Equal(0, driver.Residency.Entries);
            }
        }, iter: 40);
    }

    [Fact]
    public void Eviction_policies_hold_at_most_the_budget_and_selection_policies_evict_nothing()
    {
        (from c in Cases from budget in Gen.Int[1, 50] select (c, budget)).Sample(x =>
        {
            var (c, budget) = x;
            foreach (string spec in new[] { "window", "h2o" })
            {
                var driver = new PolicyDriver(c.G, c.Seed);
                driver.Run(KvPolicy.Create(spec, budget), c.Prefill, c.Steps);
                for (int l = 0; l < c.G.Layers; l++)
                {
                    for (int h = 0; h < c.G.KvHeads; h++)
                        Assert.True(driver.Residency.Count(l, h) <= Math.Max(budget, 1), $"{spec} holds {driver.Residency.Count(l, h)} > {budget}");
                }
            }
            foreach (string spec in new[] { "quest", "strided", "full" })
            {
                var driver = new PolicyDriver(c.G, c.Seed);
                driver.Run(KvPolicy.Create(spec, budget), c.Prefill, c.Steps);
                Assert.Equal(c.G.Layers * c.G.KvHeads * (long)c.G.Context, driver.Residency.Entries);
                foreach (var r in driver.Reads)
                    Assert.True(r.SequenceEqual(r.Order()), "reads must be ascending");
            }
        }, iter: 40);
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("window:sinks=x")]
    [InlineData("window:bogus=3")]
    [InlineData("quest:page=-1")]
    public void Bad_specs_throw_argument_exceptions(string spec) =>
        Assert.ThrowsAny<ArgumentException>(() => KvPolicy.Create(spec, 64));

    [Fact]
    public void Specs_parse_names_and_parameters()
    {
        Assert.Equal("budget=64 sinks=8", KvPolicy.Create("window:sinks=8", 64).Parameters);
        Assert.Equal("pyramidkv", KvPolicy.Create("snapkv:pyramid", 64).Name);
        Assert.Contains("pool=max", KvPolicy.Create("snapkv:pool=max", 64).Parameters, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => KvPolicy.Create("full", 0));
    }

    [Fact]
    public void Quest_top_k_takes_the_highest_scores_and_the_lower_index_among_ties()
    {
        // Scores from a small set so ties are common, with NaN (ranks as −inf) and both infinities.
        float[] values = [float.NaN, float.NegativeInfinity, -1f, 0f, 0.5f, 2f, float.PositiveInfinity];
        (from n in Gen.Int[1, 300]
         from picks in Gen.Int[0, values.Length - 1].Array[n]
         from k in Gen.Int[1, n]
         select (picks, k)).Sample(x =>
        {
            var score = x.picks.Select(i => values[i]).ToArray();
            var pages = new int[x.k];
            QuestPolicy.SelectTop(score, score.Length, x.k, pages);
            var expected = Enumerable.Range(0, score.Length)
                .OrderByDescending(i => float.IsNaN(score[i]) ? float.NegativeInfinity : score[i]).ThenBy(i => i)
                .Take(x.k).Order().ToArray();
            Assert.Equal(expected, pages);
        });
    }

    [Fact]
    public void Quest_8_bit_bounds_stay_outside_the_float_bounds_and_within_two_steps()
    {
        (from d in Gen.Int[1, 80]
         from a in Gen.Float[-1e4f, 1e4f].Array[d]
         from b in Gen.Float[-1e4f, 1e4f].Array[d]
         select (a, b)).Sample(x =>
        {
            int d = x.a.Length;
            var min = new float[d];
            var max = new float[d];
            for (int i = 0; i < d; i++)
            {
                min[i] = Math.Min(x.a[i], x.b[i]);
                max[i] = Math.Max(x.a[i], x.b[i]);
            }
            var q = new sbyte[2 * d];
            float scale = Fathom.KvCache.KvSequence.QuantizeBounds(min, max, q);
            for (int i = 0; i < d; i++)
            {
                Assert.True(q[i] * scale <= min[i] && min[i] - q[i] * scale <= 2 * scale, $"min {min[i]:R}: {q[i]} × {scale:R}");
                Assert.True(q[d + i] * scale >= max[i] && q[d + i] * scale - max[i] <= 2 * scale, $"max {max[i]:R}: {q[d + i]} × {scale:R}");
            }
        });
        // All zero keys: a zero scale; an infinite key: a NaN scale (the page ranks last).
        var z = new sbyte[2];
        Assert.Equal(0f, Fathom.KvCache.KvSequence.QuantizeBounds([0f], [0f], z));
        Assert.True(float.IsNaN(Fathom.KvCache.KvSequence.QuantizeBounds([0f], [float.PositiveInfinity], z)));
    }
}
