using System.Globalization;
using System.Text;

namespace Fathom.Evaluation;

/// <summary>Markdown table and SVG chart (mean KL against budget, one polyline per policy) of a <see cref="KvEvalResult"/>.</summary>
public static class KvEvalReport
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>The results table in GitHub markdown.</summary>
    public static string Markdown(KvEvalResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"Protocol: {result.Windows} window(s) of {result.ContextLength} tokens (BOS + text); prefill {result.ContextLength - result.DecodeWindow} tokens with full attention, then {result.DecodeWindow} teacher-forced decode steps under the policy, each scored against full attention with f16 K/V."));
        sb.AppendLine();
        sb.AppendLine("| policy | budget | tokens | K | V | mean KL | median KL | p99 KL | max KL | top-1 | RMS Δp | PPL | KV read/step | KV held | parameters |");
        sb.AppendLine("| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var r in result.Rows)
        {
            string budget = r.BudgetFraction >= 1 ? "all" : Inv($"1/{Math.Round(1 / r.BudgetFraction):0}");
            sb.AppendLine(Inv($"| {r.Policy} | {budget} | {r.BudgetTokens} | {r.KeyType.ToLowerInvariant()} | {r.ValueType.ToLowerInvariant()} | {r.MeanKl:G4} | {r.MedianKl:G4} | {r.P99Kl:G4} | {r.MaxKl:G4} | {r.Top1 * 100:0.00}% | {r.RmsDeltaP:0.00000} | {r.Perplexity:0.000} | {Bytes(r.BytesReadPerStep)} | {Bytes(r.KvBytesHeld)} | {r.Parameters} |"));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Mean KL and top-1 agreement of every policy and budget (rows) at every (K, V) element-type pair (columns), for
    /// results that measured the policies at several pairs (<see cref="KvEvalGrid"/>); cells not measured are blank.
    /// </summary>
    public static string TypeMatrix(KvEvalResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var pairs = result.Rows.Select(r => (r.KeyType, r.ValueType)).Distinct().ToList();
        var cells = result.Rows.GroupBy(r => (r.Policy, r.Parameters, r.BudgetFraction)).ToList();
        var sb = new StringBuilder();
        sb.AppendLine("Mean KL / top-1 against full attention with f16 K and V, per element-type pair:");
        sb.AppendLine();
        sb.Append("| policy | budget |");
        foreach (var (k, v) in pairs)
            sb.Append(Inv($" K {k.ToLowerInvariant()} V {v.ToLowerInvariant()} |"));
        sb.AppendLine();
        sb.Append("| --- | --- |");
        sb.AppendLine(string.Concat(Enumerable.Repeat(" ---: |", pairs.Count)));
        foreach (var g in cells)
        {
            string budget = g.Key.BudgetFraction >= 1 ? "all" : Inv($"1/{Math.Round(1 / g.Key.BudgetFraction):0}");
            sb.Append(Inv($"| {g.Key.Policy} | {budget} |"));
            foreach (var (k, v) in pairs)
            {
                var r = g.FirstOrDefault(x => x.KeyType == k && x.ValueType == v);
                sb.Append(r is null ? " |" : Inv($" {r.MeanKl:G3} / {r.Top1 * 100:0.0}% |"));
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>
    /// A self-contained SVG: x = budget as a fraction of the context (log2 axis), y = mean KL (log10 axis,
    /// floored at 1e-6), one polyline per policy; the quantized-cache rows with <c>full</c> appear as points at budget 1.
    /// </summary>
    public static string Svg(KvEvalResult result, string title)
    {
        ArgumentNullException.ThrowIfNull(result);
        const int W = 720, H = 440, Left = 70, Right = 170, Top = 40, Bottom = 50;
        const double Floor = 1e-6;
        var rows = result.Rows.Where(r => r.MeanKl > 0 || r.Policy != "full").ToList();
        var fractions = result.Rows.Select(r => r.BudgetFraction).Append(1.0).ToList();
        double xMin = Math.Log2(fractions.Min()), xMax = 0;
        if (xMax - xMin < 1)
            xMin = xMax - 1;
        var kl = rows.Select(r => Math.Max(Floor, r.MeanKl)).DefaultIfEmpty(1).ToList();
        double yMin = Math.Floor(Math.Log10(kl.Min())), yMax = Math.Ceiling(Math.Log10(kl.Max()));
        if (yMax <= yMin)
            yMax = yMin + 1;
        double X(double f) => Left + (Math.Log2(f) - xMin) / (xMax - xMin) * (W - Left - Right);
        double Y(double k) => Top + (yMax - Math.Log10(Math.Max(Floor, k))) / (yMax - yMin) * (H - Top - Bottom);

        var sb = new StringBuilder();
        sb.AppendLine(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">"));
        sb.AppendLine(Inv($"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>"));
        sb.AppendLine(Inv($"<text x=\"{W / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>"));
        for (double e = yMin; e <= yMax; e++)
        {
            double y = Y(Math.Pow(10, e));
            sb.AppendLine(Inv($"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{W - Right}\" y2=\"{y:0.#}\" stroke=\"#ddd\"/>"));
            sb.AppendLine(Inv($"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">1e{e:0}</text>"));
        }
        for (double e = Math.Ceiling(xMin); e <= xMax; e++)
        {
            double x = X(Math.Pow(2, e));
            sb.AppendLine(Inv($"<line x1=\"{x:0.#}\" y1=\"{Top}\" x2=\"{x:0.#}\" y2=\"{H - Bottom}\" stroke=\"#ddd\"/>"));
            string label = e == 0 ? "1" : Inv($"1/{Math.Pow(2, -e):0}");
            sb.AppendLine(Inv($"<text x=\"{x:0.#}\" y=\"{H - Bottom + 16}\" text-anchor=\"middle\">{label}</text>"));
        }
        sb.AppendLine(Inv($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{W - Left - Right}\" height=\"{H - Top - Bottom}\" fill=\"none\" stroke=\"#333\"/>"));
        sb.AppendLine(Inv($"<text x=\"{(Left + W - Right) / 2}\" y=\"{H - 12}\" text-anchor=\"middle\">KV budget (fraction of the {result.ContextLength}-token context)</text>"));
        sb.AppendLine(Inv($"<text x=\"16\" y=\"{(Top + H - Bottom) / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {(Top + H - Bottom) / 2})\">mean KL vs full f16 (nats)</text>"));

        int series = 0;
        foreach (var group in rows.Where(r => r.Policy != "full").GroupBy(r => (r.Policy, r.KeyType, r.ValueType)))
        {
            string color = Colors[series % Colors.Length];
            var pts = group.OrderBy(r => r.BudgetFraction).Select(r => Inv($"{X(r.BudgetFraction):0.#},{Y(r.MeanKl):0.#}"));
            sb.AppendLine(Inv($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{string.Join(' ', pts)}\"/>"));
            foreach (var r in group)
                sb.AppendLine(Inv($"<circle cx=\"{X(r.BudgetFraction):0.#}\" cy=\"{Y(r.MeanKl):0.#}\" r=\"3\" fill=\"{color}\"/>"));
            string name = group.Key.KeyType == "F16" && group.Key.ValueType == "F16" ? group.Key.Policy : $"{group.Key.Policy} K={group.Key.KeyType} V={group.Key.ValueType}";
            Legend(sb, W - Right + 12, Top + 10 + series * 18, color, name, line: true);
            series++;
        }
        foreach (var r in rows.Where(r => r.Policy == "full"))
        {
            string color = Colors[series % Colors.Length];
            sb.AppendLine(Inv($"<rect x=\"{X(1) - 4:0.#}\" y=\"{Y(r.MeanKl) - 4:0.#}\" width=\"8\" height=\"8\" fill=\"{color}\"/>"));
            Legend(sb, W - Right + 12, Top + 10 + series * 18, color, $"full K={r.KeyType.ToLowerInvariant()} V={r.ValueType.ToLowerInvariant()}", line: false);
            series++;
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static void Legend(StringBuilder sb, int x, int y, string color, string text, bool line)
    {
        sb.AppendLine(line
            ? Inv($"<line x1=\"{x}\" y1=\"{y}\" x2=\"{x + 18}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2\"/>")
            : Inv($"<rect x=\"{x + 5}\" y=\"{y - 4}\" width=\"8\" height=\"8\" fill=\"{color}\"/>"));
        sb.AppendLine(Inv($"<text x=\"{x + 24}\" y=\"{y + 4}\">{Escape(text)}</text>"));
    }

    private static string Bytes(double b) => b >= 1 << 20 ? Inv($"{b / (1 << 20):0.00} MiB") : Inv($"{b / 1024:0.0} KiB");

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
