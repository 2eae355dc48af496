using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class Bm25IndexTests
{
    [Fact]
    public void Scores_follow_the_bm25_formula()
    {
        var docs = new[] { "alpha beta", "alpha alpha gamma delta", "epsilon" };
        var index = Bm25Index.Build(docs);
        double[] s = index.Score("alpha");
        // By hand: N = 3, df = 2, idf = ln(1 + (3 - 2 + 0.5) / 2.5); avgdl = 7/3.
        double idf = Math.Log(1 + 1.5 / 2.5), avg = 7.0 / 3;
        double Expected(int tf, int len) => idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg));
        Assert.Equal(Expected(1, 2), s[0], 12);
        Assert.Equal(Expected(2, 4), s[1], 12);
        Assert.Equal(0, s[2]);
    }

    [Fact]
    public void Code_identifiers_match_their_parts()
    {
        var index = Bm25Index.Build(["class KvCacheManager { BlockPool pool; }", "def price_table(): pass", "readme text"]);
        Assert.True(index.Score("cache manager")[0] > 0);
        Assert.True(index.Score("PriceTable")[1] > index.Score("PriceTable")[0]);
        Assert.True(index.Score("KvCacheManager")[0] > index.Score("cache")[0]);
    }

    [Fact]
    public void Rarer_terms_weigh_more()
    {
        var index = Bm25Index.Build(["common rare", "common", "common", "common"]);
        var s = index.Score("common rare");
        Assert.True(s[0] > s[1]);
        Assert.True(index.Score("rare")[0] > index.Score("common")[0]);
    }

    [Fact]
    public void Unknown_terms_and_empty_index_score_zero()
    {
        Assert.All(Bm25Index.Build(["a b c"]).Score("zzz"), s => Assert.Equal(0, s));
        Assert.Empty(Bm25Index.Build([]).Score("a"));
    }

    [Fact]
    public void A_large_corpus_indexes()
    {
        var rng = new Random(7);
        string[] vocab = Enumerable.Range(0, 5000).Select(i => $"ident{i}Name_{i % 17}").ToArray();
        var docs = Enumerable.Range(0, 2000).Select(_ => string.Join(' ', Enumerable.Range(0, 400).Select(_ => vocab[rng.Next(vocab.Length)]))).ToList();
        var index = Bm25Index.Build(docs);
        Assert.Equal(2000, index.Count);
        Assert.Contains(index.Score("ident42Name_8"), s => s > 0);
    }
}
