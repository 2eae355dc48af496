using System.Buffers.Binary;
using Fathom.Models;

namespace Fathom.Evaluation;

/// <summary>
/// This run against a saved base run (llama-perplexity's <c>--kl-divergence</c> figures): <see cref="MeanKl"/> =
/// mean over scored positions of KL(base ‖ this) in nats with its standard error, the largest KL, the share of
/// positions whose most likely token is the same (with its standard error), and both runs' perplexities.
/// </summary>
public sealed record KlDivergenceResult(
    PerplexityResult Current, double BasePerplexity, double BaseUncertainty,
    double MeanKl, double KlUncertainty, double MaxKl, double SameTop1, double SameTop1Uncertainty, long Positions);

/// <summary>Compares a run with the base distributions saved by <see cref="LogitsFile.Save"/>.</summary>
public static class KlDivergence
{
    /// <summary>
    /// Scores <paramref name="tokens"/> as <see cref="Perplexity"/> does and compares each scored position with
    /// <paramref name="baseRun"/>. Throws <see cref="LogitsFileException"/> when the file is corrupt or was saved
    /// for another vocabulary, context, chunk count or token stream.
    /// </summary>
    public static KlDivergenceResult Evaluate(Model model, ReadOnlySpan<int> tokens, int chunkBos, PerplexityOptions options, Stream baseRun,
        Action<PerplexityProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(baseRun);
        Span<byte> head = stackalloc byte[LogitsFile.HeaderBytes];
        baseRun.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var saved = LogitsFile.Header.Read(head, baseRun.CanSeek ? baseRun.Length : -1);
        var mine = LogitsFile.Header.For(model, tokens, chunkBos, options);
        if (saved.Vocab != mine.Vocab)
            throw new LogitsFileException($"the base run has n_vocab {saved.Vocab}; this model has {mine.Vocab}");
        if (saved.Context != mine.Context)
            throw new LogitsFileException($"the base run used n_ctx {saved.Context}; this run uses {mine.Context}");
        if (saved.Chunks != mine.Chunks)
            throw new LogitsFileException($"the base run scored {saved.Chunks} chunks; this run scores {mine.Chunks}");
        if (saved.TextTokens != mine.TextTokens || saved.Fingerprint != mine.Fingerprint)
            throw new LogitsFileException($"the base run scored another token stream ({saved.TextTokens} tokens, fingerprint {saved.Fingerprint:x16}; this run {mine.TextTokens}, {mine.Fingerprint:x16})");

        var record = new byte[LogitsFile.RecordBytes(saved.Vocab)];
        var baseLogProbs = new float[saved.Vocab];
        double kl = 0, kl2 = 0, maxKl = 0, baseNll = 0, baseNll2 = 0;
        long same = 0, n = 0;
        var current = Perplexity.Evaluate(model, tokens, chunkBos, options, progress, (logits, next) =>
        {
            if (baseRun.ReadAtLeast(record, record.Length, throwOnEndOfStream: false) != record.Length)
                throw new LogitsFileException("the base run's logits file ends early");
            int baseTop = BinaryPrimitives.ReadInt32LittleEndian(record);
            double nll = -BinaryPrimitives.ReadSingleLittleEndian(record.AsSpan(4));
            var body = record.AsSpan(8);
            for (int i = 0; i < baseLogProbs.Length; i++)
                baseLogProbs[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(body[(2 * i)..]);
            double d = Divergence(baseLogProbs, logits);
            kl += d;
            kl2 += d * d;
            maxKl = Math.Max(maxKl, d);
            baseNll += nll;
            baseNll2 += nll * nll;
            if (baseTop == LogitsFile.ArgMax(logits))
                same++;
            n++;
        });

        double meanKl = kl / n, meanNll = baseNll / n, basePpl = Math.Exp(meanNll), top = (double)same / n;
        return new KlDivergenceResult(current, basePpl, StandardError(baseNll2 / n - meanNll * meanNll, n) * basePpl,
            meanKl, StandardError(kl2 / n - meanKl * meanKl, n), maxKl, top, StandardError(top * (1 - top), n), n);
    }

    /// <summary>KL(base ‖ this) in nats; the f16-stored base is renormalised so a run against itself is ~0, never negative.</summary>
    internal static double Divergence(ReadOnlySpan<float> baseLogProbs, ReadOnlySpan<float> logits)
    {
        double baseLse = LogitsFile.LogSumExp(baseLogProbs), lse = LogitsFile.LogSumExp(logits), sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double p = baseLogProbs[i] - baseLse;
            sum += Math.Exp(p) * (p - (logits[i] - lse));
        }
        return Math.Max(0, sum);
    }

    private static double StandardError(double variance, long n) => n > 1 && variance > 0 ? Math.Sqrt(variance / (n - 1)) : 0;
}
