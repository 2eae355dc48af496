using CsCheck;
using Fathom.KvPolicies;

namespace Fathom.Tests.KvPolicies;

/// <summary>
/// The residency's bit sets against a plain set per head, over contexts that span several 64-bit words (the policy
/// property tests stay within one), and the policies that walk it over long contexts against their definitions.
/// </summary>
public class KvResidencyTests
{
    [Fact]
    public void Bit_sets_agree_with_a_plain_set_across_words()
    {
        (from context in Gen.Int[1, 300]
         from length in Gen.Int[0, 300]
         from removals in Gen.Int[0, 299].Array[0, 200]
         from truncate in Gen.Int[0, 320]
         from froms in Gen.Int[-3, 330].Array[1, 20]
         from page in Gen.Int[1, 70]
         select (context, Math.Min(length, context), removals, truncate, froms, page)).Sample(c =>
        {
            var g = new KvPolicyGeometry(2, 2, 1, 4, 4, c.context, c.page);
            var residency = new KvResidency(g);
            var model = new SortedSet<int>[4];
            for (int i = 0; i < 4; i++)
                model[i] = [];
            for (int p = 0; p < c.Item2; p++)
            {
                residency.AddPosition(p);
                foreach (var m in model)
                    m.Add(p);
            }
            for (int k = 0; k < c.removals.Length; k++)
            {
                int l = k % 2, h = k / 2 % 2, p = c.removals[k];
                if (model[l * 2 + h].Remove(p))
                    residency.Remove(l, h, p);
                else
                    Assert.Throws<InvalidOperationException>(() => residency.Remove(l, h, p));
            }
            if (c.truncate < residency.Length)
            {
                residency.TruncateFrom(c.truncate);
                foreach (var m in model)
                    m.RemoveWhere(p => p >= c.truncate);
            }
            for (int l = 0; l < 2; l++)
            {
                for (int h = 0; h < 2; h++)
                {
                    var m = model[l * 2 + h];
                    Assert.Equal(m.Count, residency.Count(l, h));
                    var listed = new List<int>();
                    residency.CopyTo(l, h, listed);
                    Assert.Equal(m, listed);
                    for (int p = -1; p <= c.context; p++)
                        Assert.Equal(m.Contains(p), residency.Contains(l, h, p));
                    foreach (int from in c.froms)
                    {
                        int expected = m.Where(p => p >= from).DefaultIfEmpty(-1).First();
                        Assert.Equal(expected, residency.NextResident(l, h, from));
                    }
                }
                int pages = (c.context + c.page - 1) / c.page;
                int held = Enumerable.Range(0, pages).Count(pg => model[l * 2].Concat(model[l * 2 + 1]).Any(p => p / c.page == pg));
                Assert.Equal(held, residency.PagesHeld(l));
            }
        }, iter: 200);
    }

    // One layer, one KV head, positions [0, filled) resident.
    private static (KvPolicyGeometry, KvResidency) OneHead(int context, int page, int filled)
    {
        var g = new KvPolicyGeometry(1, 1, 1, 4, 4, context, page);
        var residency = new KvResidency(g);
        for (int p = 0; p < filled; p++)
            residency.AddPosition(p);
        return (g, residency);
    }

    [Fact]
    public void Window_over_a_long_context_keeps_the_sinks_and_the_newest()
    {
        (from context in Gen.Int[70, 600]
         from budget in Gen.Int[1, 64]
         from sinks in Gen.Int[0, 8]
         from steps in Gen.Int[1, 5]
         select (context, budget, sinks, steps)).Sample(c =>
        {
            var (g, residency) = OneHead(c.context + c.steps, 16, c.context);
            var policy = new WindowPolicy(c.budget, c.sinks);
            policy.Begin(g);
            policy.OnPrefillEnd(0, 0, c.context, default, default, residency);
            for (int s = 0; s < c.steps; s++)
            {
                int position = c.context + s;
                residency.AddPosition(position);
                policy.OnDecodeStep(0, 0, position, default, default, residency);
                int sinks = Math.Min(c.sinks, c.budget);
                var expected = Enumerable.Range(0, sinks).Concat(Enumerable.Range(position + 1 - (c.budget - sinks), c.budget - sinks)).ToList();
                var kept = new List<int>();
                residency.CopyTo(0, 0, kept);
                Assert.Equal(expected, kept);
            }
        }, iter: 100);
    }

    [Fact]
    public void Strided_reads_exactly_its_pattern_over_long_contexts()
    {
        (from n in Gen.Int[1, 700]
         from budget in Gen.Int[1, 80]
         from sinks in Gen.Int[0, 6]
         from local in Gen.Int[-1, 40]
         from stride in Gen.Int[0, 50]
         from holes in Gen.Int[0, 699].Array[0, 30]
         select (n, budget, sinks, local, stride, holes)).Sample(c =>
        {
            var (g, residency) = OneHead(c.n, 8, c.n);
            foreach (int p in c.holes.Where(p => p < c.n).Distinct())
                residency.Remove(0, 0, p);
            var policy = new StridedPolicy(c.budget, c.sinks, c.local, c.stride);
            policy.Begin(g);
            var reads = new List<int>();
            policy.SelectReads(0, 0, c.n - 1, new float[4], null!, residency, reads);
            var expected = new List<int>();
            if (c.n <= c.budget)
            {
                residency.CopyTo(0, 0, expected);
            }
            else
            {
                int s = policy.StrideFor(c.n), localStart = Math.Max(0, c.n - policy.Local);
                for (int p = 0; p < c.n; p++)
                {
                    if ((p < policy.Sinks || p >= localStart || (s != int.MaxValue && p % s == 0)) && residency.Contains(0, 0, p))
                        expected.Add(p);
                }
            }
            Assert.Equal(expected, reads);
        }, iter: 300);
    }
}
