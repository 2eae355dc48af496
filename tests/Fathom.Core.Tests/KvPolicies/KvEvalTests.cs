using Fathom.Evaluation;
using Fathom.Gguf;
using Fathom.KvPolicies;
using Fathom.Models;
using Fathom.Tokenization;

namespace Fathom.Tests.KvPolicies;

public class KvEvalTests
{
    private static (Model Model, int[] Tokens, int Bos) Load()
    {
        var model = Model.Load(Fixtures.Model("fathom-code-5m-q8_0.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        var text = File.ReadAllText(Path.Combine(Fixtures.Text, "stdlib-8k.txt"));
        return (model, Perplexity.Tokenize(tokenizer, text[..4000]), Perplexity.ChunkBos(tokenizer));
    }

    [Fact]
    public void Every_policy_with_a_budget_of_the_whole_context_matches_full_attention_exactly()
    {
        var (model, tokens, bos) = Load();
        using var _ = model;
        var options = new KvEvalOptions
        {
            ContextLength = 80, DecodeWindow = 8, Budgets = [1.0],
            Policies = ["full", "window", "h2o", "snapkv", "pyramidkv", "quest", "strided"],
        };
        var result = KvEval.Run(model, tokens, bos, options);
        Assert.Equal(7, result.Rows.Count);
        double ppl = result.Rows[0].Perplexity;
        foreach (var row in result.Rows)
        {
            Assert.Equal(0, row.MeanKl);
            Assert.Equal(1, row.Top1);
            Assert.Equal(ppl, row.Perplexity);
            Assert.Equal(8, row.Positions);
        }
    }

    [Fact]
    public void Small_budgets_and_quantized_keys_move_the_distribution_and_read_less()
    {
        var (model, tokens, bos) = Load();
        using var _ = model;
        var options = new KvEvalOptions
        {
            ContextLength = 96, DecodeWindow = 8, Budgets = [1.0 / 8], Policies = ["window", "quest:dense=0"],
            KeyTypes = [GgmlType.F16, GgmlType.Q4_0],
        };
        var result = KvEval.Run(model, tokens, bos, options);
        var full = result.Rows[0];
        var window = result.Rows.Single(r => r.Policy == "window");
        var quest = result.Rows.Single(r => r.Policy == "quest");
        var q4 = result.Rows.Single(r => r.KeyType == "Q4_0");
        Assert.True(window.MeanKl > 0 && quest.MeanKl > 0 && q4.MeanKl > 0, string.Join("; ", result.Rows.Select(r => $"{r.Policy} {r.KeyType} {r.MeanKl} {r.BytesReadPerStep}")));
        Assert.True(window.BytesReadPerStep < full.BytesReadPerStep / 4);
        Assert.True(quest.BytesReadPerStep < full.BytesReadPerStep);
        Assert.True(window.KvBytesHeld < full.KvBytesHeld / 4);
        Assert.Equal((18.0 / 32 + 2) / 4, q4.BytesReadPerStep / full.BytesReadPerStep, 6);
    }

    [Fact]
    public void Bad_options_throw_typed_exceptions()
    {
        var (model, tokens, bos) = Load();
        using var _ = model;
        Assert.Throws<ArgumentOutOfRangeException>(() => KvEval.Run(model, tokens, bos, new KvEvalOptions { ContextLength = 64, DecodeWindow = 64 }));
        Assert.Throws<ArgumentException>(() => KvEval.Run(model, tokens.AsSpan(0, 50), bos, new KvEvalOptions { ContextLength = 64, DecodeWindow = 8 }));
        Assert.Throws<ArgumentException>(() => KvEval.Run(model, tokens, bos, new KvEvalOptions { ContextLength = 64, DecodeWindow = 8, Policies = ["bogus"] }));
        Assert.Throws<ArgumentOutOfRangeException>(() => KvEval.Run(model, tokens, bos, new KvEvalOptions { ContextLength = 64, DecodeWindow = 8, Budgets = [1.5] }));
    }

    [Fact]
    public void Strided_windows_pool_the_positions_of_windows_taken_apart()
    {
        var (model, tokens, bos) = Load();
        using var _ = model;
        var one = new KvEvalOptions { ContextLength = 48, DecodeWindow = 6 };
        double a = KvEval.Run(model, tokens, bos, one).Rows[0].Perplexity;
        double b = KvEval.Run(model, tokens.AsSpan(300), bos, one).Rows[0].Perplexity;
        var both = KvEval.Run(model, tokens, bos, one with { Windows = 2, WindowStride = 300 });
        Assert.Equal(12, both.Rows[0].Positions);
        Assert.Equal(Math.Sqrt(a * b), both.Rows[0].Perplexity, 1e-9 * a);
        Assert.Throws<ArgumentOutOfRangeException>(() => KvEval.Run(model, tokens, bos, one with { WindowStride = -1 }));
        Assert.Throws<ArgumentException>(() => KvEval.Run(model, tokens, bos, one with { Windows = 2, WindowStride = tokens.Length }));
    }

    [Fact]
    public void The_report_has_a_row_per_run_and_an_svg_polyline_per_policy()
    {
        KvEvalRow Row(string p, double f, double kl) => new(p, "", f, 10, "F16", "F16", kl, kl, kl, kl, 1, 0, 1, 100, 100, 1, 8, 0);
        var result = new KvEvalResult([Row("full", 1, 0), Row("window", 0.5, 0.1), Row("window", 0.25, 0.2), Row("h2o", 0.5, 0.01), Row("h2o", 0.25, 0.02)], 64, 8, 1, 100);
        string md = KvEvalReport.Markdown(result);
        Assert.Equal(5, md.Split('\n').Count(l => l.StartsWith("| full", StringComparison.Ordinal) || l.StartsWith("| window", StringComparison.Ordinal) || l.StartsWith("| h2o", StringComparison.Ordinal)));
        string svg = KvEvalReport.Svg(result, "t");
        Assert.Equal(2, svg.Split("<polyline").Length - 1);
        Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
        _ = System.Xml.Linq.XDocument.Parse(svg);
    }
}
