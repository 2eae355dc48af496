using Fathom.Evaluation;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Tokenization;

namespace Fathom.Tests.KvPolicies;

public class KvEvalGridTests
{
    private static readonly GgmlType[] All = [GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0];

    [Fact]
    public void Separate_quantizes_k_and_v_one_at_a_time_and_cross_takes_every_pair()
    {
        var options = new KvEvalOptions { ContextLength = 64, KeyTypes = All, ValueTypes = All };
        var separate = KvEvalGrid.Pairs(options, KvTypeGrid.Separate);
        Assert.Equal([(GgmlType.F16, GgmlType.F16), (GgmlType.Q8_0, GgmlType.F16), (GgmlType.Q4_0, GgmlType.F16), (GgmlType.F16, GgmlType.Q8_0), (GgmlType.F16, GgmlType.Q4_0)], separate);
        Assert.Equal(9, KvEvalGrid.Pairs(options, KvTypeGrid.Cross).Count);
        Assert.Equal((GgmlType.F16, GgmlType.F16), KvEvalGrid.Pairs(options, KvTypeGrid.Cross)[0]);
        Assert.Equal([(GgmlType.Q8_0, GgmlType.F16)], KvEvalGrid.Pairs(options with { KeyTypes = [GgmlType.Q8_0] }, KvTypeGrid.First));
    }

    [Fact]
    public void Every_policy_runs_at_every_pair_with_one_reference_row()
    {
        using var model = Model.Load(Fixtures.Model("fathom-code-5m-q8_0.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        var tokens = Perplexity.Tokenize(tokenizer, File.ReadAllText(Path.Combine(Fixtures.Text, "stdlib-8k.txt"))[..2000]);
        var options = new KvEvalOptions
        {
            ContextLength = 64, DecodeWindow = 4, Policies = ["full", "window"], Budgets = [0.5],
            KeyTypes = [GgmlType.F16, GgmlType.Q4_0], ValueTypes = [GgmlType.F16],
        };
        var result = KvEvalGrid.Run(model, tokens, Perplexity.ChunkBos(tokenizer), options, KvTypeGrid.Separate);
        Assert.Equal(["full F16", "window F16", "full Q4_0", "window Q4_0"], result.Rows.Select(r => $"{r.Policy} {r.KeyType}"));
        Assert.Equal(0, result.Rows[0].MeanKl);
        Assert.True(result.Rows[3].MeanKl > 0);
        string matrix = KvEvalReport.TypeMatrix(result);
        Assert.Contains("| K f16 V f16 | K q4_0 V f16 |", matrix, StringComparison.Ordinal);
        Assert.Single(matrix.Split('\n'), l => l.StartsWith("| window | 1/2 |", StringComparison.Ordinal) && l.Count(c => c == '%') == 2);
    }
}
