using System.Globalization;
using Fathom.Evaluation;
using Fathom.Models;

namespace Fathom.Cli.Commands;

/// <summary>`fathom perplexity --save-logits / --kl-base`: llama-perplexity's --kl-divergence-base / --kl-divergence.</summary>
internal static class KlModes
{
    public static (PerplexityResult Result, KlDivergenceResult? Kl) Run(Model model, int[] tokens, int chunkBos, PerplexityOptions options,
        Action<PerplexityProgress>? progress, FileInfo? save, FileInfo? klBase)
    {
        if (save is not null && klBase is not null)
            throw new CliUsageException("--save-logits and --kl-base cannot be used together");
        if (save is not null)
        {
            using var output = new FileStream(save.FullName, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            return (LogitsFile.Save(model, tokens, chunkBos, options, output, progress), null);
        }
        if (klBase is not null)
        {
            if (!klBase.Exists)
                throw new CliUsageException($"base logits file '{klBase.FullName}' not found");
            using var input = new FileStream(klBase.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var kl = KlDivergence.Evaluate(model, tokens, chunkBos, options, input, progress);
            return (kl.Current, kl);
        }
        return (Perplexity.Evaluate(model, tokens, chunkBos, options, progress), null);
    }

    public static void Print(TextWriter stdout, KlDivergenceResult kl)
    {
        var c = CultureInfo.InvariantCulture;
        stdout.WriteLine(string.Create(c, $"Mean PPL(Q)    : {kl.Current.Value:F6} +/- {kl.Current.Uncertainty:F6}"));
        stdout.WriteLine(string.Create(c, $"Mean PPL(base) : {kl.BasePerplexity:F6} +/- {kl.BaseUncertainty:F6}"));
        stdout.WriteLine(string.Create(c, $"Mean    KLD    : {kl.MeanKl:F6} +/- {kl.KlUncertainty:F6}"));
        stdout.WriteLine(string.Create(c, $"Maximum KLD    : {kl.MaxKl:F6}"));
        stdout.WriteLine(string.Create(c, $"Same top p     : {100 * kl.SameTop1:F3} +/- {100 * kl.SameTop1Uncertainty:F3} %"));
        stdout.WriteLine(string.Create(c, $"Positions      : {kl.Positions}"));
    }
}
