using Fathom.Gguf;
using Fathom.Models;

namespace Fathom.Evaluation;

/// <summary>Which (K, V) element-type pairs the policy rows of a <see cref="KvEvalGrid"/> run with.</summary>
public enum KvTypeGrid
{
    /// <summary>The first key and value types only (as <see cref="KvEval.Run"/>); other pairs run with <c>full</c>.</summary>
    First,

    /// <summary>Each key type with f16 values and each value type with f16 keys: K and V quantized separately.</summary>
    Separate,

    /// <summary>Every key type with every value type.</summary>
    Cross,
}

/// <summary>
/// Runs <see cref="KvEval"/> once per (K, V) pair so every policy and budget is measured at every element type,
/// and merges the rows (the f16 reference, identical in every run, is kept once).
/// </summary>
public static class KvEvalGrid
{
    /// <summary>The (K, V) pairs <paramref name="grid"/> selects from the option's key and value types, f16/f16 first.</summary>
    public static IReadOnlyList<(GgmlType Key, GgmlType Value)> Pairs(KvEvalOptions options, KvTypeGrid grid)
    {
        ArgumentNullException.ThrowIfNull(options);
        var pairs = new List<(GgmlType, GgmlType)>();
        void Add(GgmlType k, GgmlType v)
        {
            if (!pairs.Contains((k, v)))
                pairs.Add((k, v));
        }
        switch (grid)
        {
            case KvTypeGrid.First:
                Add(options.KeyTypes[0], options.ValueTypes[0]);
                break;
            case KvTypeGrid.Separate:
                Add(GgmlType.F16, GgmlType.F16);
                foreach (var k in options.KeyTypes)
                    Add(k, GgmlType.F16);
                foreach (var v in options.ValueTypes)
                    Add(GgmlType.F16, v);
                break;
            case KvTypeGrid.Cross:
                Add(GgmlType.F16, GgmlType.F16);
                foreach (var k in options.KeyTypes)
                {
                    foreach (var v in options.ValueTypes)
                        Add(k, v);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(grid), $"unknown grid {grid}");
        }
        return pairs;
    }

    public static KvEvalResult Run(Model model, ReadOnlySpan<int> tokens, int bos, KvEvalOptions options, KvTypeGrid grid, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (grid == KvTypeGrid.First)
            return KvEval.Run(model, tokens, bos, options, progress);
        var rows = new List<KvEvalRow>();
        KvEvalResult? last = null;
        foreach (var (k, v) in Pairs(options, grid))
        {
            last = KvEval.Run(model, tokens, bos, options with { KeyTypes = [k], ValueTypes = [v] }, progress);
            foreach (var row in last.Rows)
            {
                bool reference = row.Policy == "full" && row.KeyType == nameof(GgmlType.F16) && row.ValueType == nameof(GgmlType.F16);
                if (!(reference && rows.Count > 0))
                    rows.Add(row);
            }
        }
        return last! with { Rows = rows };
    }
}
