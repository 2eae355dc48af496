using Fathom.Models;
using Fathom.Tokenization;

namespace Fathom.Evaluation;

/// <summary>How <see cref="Perplexity"/> splits and runs the text.</summary>
public sealed record PerplexityOptions
{
    /// <summary>Tokens per chunk (llama-perplexity's <c>-c</c>); each chunk scores its second half.</summary>
    public required int ContextLength { get; init; }

    /// <summary>Tokens per forward call (<c>-b</c>); a chunk longer than this is run in several calls.</summary>
    public int BatchSize { get; init; } = 2048;

    /// <summary>Threads for the forward pass.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Chunks to score at most (<c>--chunks</c>); 0 scores every whole chunk of the text.</summary>
    public int MaxChunks { get; init; }
}

/// <summary>The running figure after each chunk, as llama-perplexity prints <c>[i]ppl,</c>.</summary>
public readonly record struct PerplexityProgress(int Chunk, int Chunks, double Perplexity);

/// <summary>
/// A perplexity estimate: <see cref="Value"/> = exp(mean negative log-likelihood) over <see cref="ScoredTokens"/>,
/// and <see cref="Uncertainty"/> its standard error (llama-perplexity's "PPL = x +/- y").
/// </summary>
public sealed record PerplexityResult(
    double Value, double Uncertainty, double MeanNll, int TextTokens, int Chunks, int ContextLength, long ScoredTokens);

/// <summary>Receives one scored position's logits and the token that follows it.</summary>
internal delegate void ScoredRow(ReadOnlySpan<float> logits, int next);

/// <summary>
/// Scores text exactly as llama.cpp's llama-perplexity does: the text is tokenized whole (with BOS when the
/// vocabulary adds one), cut into <c>tokens / n_ctx</c> chunks whose first token becomes BOS, each chunk runs
/// from position 0 in a fresh cache, and the tokens after the first half of each chunk are scored.
/// </summary>
public static class Perplexity
{
    /// <summary>Tokenizes <paramref name="text"/> as llama-perplexity does (special tokens added, not parsed) and scores it.</summary>
    public static PerplexityResult Evaluate(Model model, Tokenizer tokenizer, string text, PerplexityOptions options,
        Action<PerplexityProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        int[] tokens = Tokenize(tokenizer, text);
        return Evaluate(model, tokens, ChunkBos(tokenizer), options, progress);
    }

    /// <summary>The token stream llama-perplexity scores: BOS when the vocabulary adds it, special-token text kept as text.</summary>
    public static int[] Tokenize(Tokenizer tokenizer, string text)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.Encode(text, addSpecial: true, parseSpecial: false);
    }

    /// <summary>As <see cref="Tokenize(Tokenizer, string)"/>, from the file's bytes as llama-perplexity reads them.</summary>
    public static int[] Tokenize(Tokenizer tokenizer, ReadOnlySpan<byte> utf8)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.Encode(utf8, addSpecial: true, parseSpecial: false);
    }

    /// <summary>The token that replaces each chunk's first token: BOS when the vocabulary adds one, else -1 (none).</summary>
    public static int ChunkBos(Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.AddBos && tokenizer.Bos >= 0 ? tokenizer.Bos : -1;
    }

    /// <summary>
    /// Scores an already tokenized text. <paramref name="chunkBos"/> (or -1) overwrites the first token of every
    /// chunk. Needs at least two chunks' worth of tokens, as llama-perplexity does.
    /// </summary>
    public static PerplexityResult Evaluate(Model model, ReadOnlySpan<int> tokens, int chunkBos, PerplexityOptions options,
        Action<PerplexityProgress>? progress = null)
        => Evaluate(model, tokens, chunkBos, options, progress, null);

    /// <summary>As the public overload; <paramref name="rows"/> also sees every scored row (logits, next token) in order.</summary>
    internal static PerplexityResult Evaluate(Model model, ReadOnlySpan<int> tokens, int chunkBos, PerplexityOptions options,
        Action<PerplexityProgress>? progress, ScoredRow? rows)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        int nCtx = options.ContextLength, vocab = model.Config.VocabSize;
        if (nCtx < 4)
            throw new ArgumentOutOfRangeException(nameof(options), $"context length {nCtx} must be at least 4");
        if (options.BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"batch size {options.BatchSize} must be at least 1");
        if (options.MaxChunks < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"chunk limit {options.MaxChunks} must not be negative");
        if (tokens.Length < 2L * nCtx)
            throw new ArgumentException($"the text is {tokens.Length} tokens; a context of {nCtx} needs at least {2L * nCtx}", nameof(tokens));
        if (chunkBos >= vocab)
            throw new ArgumentOutOfRangeException(nameof(chunkBos), $"BOS id {chunkBos} is outside the vocabulary of {vocab}");

        int chunks = tokens.Length / nCtx;
        if (options.MaxChunks > 0)
            chunks = Math.Min(chunks, options.MaxChunks);
        int batch = Math.Min(options.BatchSize, nCtx);
        int first = nCtx / 2;

        using var session = model.CreateSession(nCtx, options.Threads);
        var chunk = new int[nCtx];
        double nll = 0, nll2 = 0;
        long count = 0;
        for (int c = 0; c < chunks; c++)
        {
            tokens.Slice(c * nCtx, nCtx).CopyTo(chunk);
            if (chunkBos >= 0)
                chunk[0] = chunkBos;
            session.Reset();
            for (int start = 0; start < nCtx; start += batch)
            {
                int n = Math.Min(batch, nCtx - start);
                // Batches wholly before the scored half only fill the cache; their logits are not needed.
                if (start + n <= first)
                {
                    session.Forward(chunk.AsSpan(start, n));
                    continue;
                }
                var logits = session.Forward(chunk.AsSpan(start, n), allLogits: true);
                int end = Math.Min(start + n, nCtx - 1);
                for (int p = Math.Max(start, first); p < end; p++)
                {
                    var row = logits.Slice((p - start) * vocab, vocab);
                    double v = NegativeLogLikelihood(row, chunk[p + 1]);
                    rows?.Invoke(row, chunk[p + 1]);
                    nll += v;
                    nll2 += v * v;
                    count++;
                }
            }
            progress?.Invoke(new PerplexityProgress(c + 1, chunks, Math.Exp(nll / count)));
        }

        double mean = nll / count;
        double ppl = Math.Exp(mean);
        double variance = nll2 / count - mean * mean;
        double uncertainty = variance > 0 && count > 1 ? Math.Sqrt(variance / (count - 1)) * ppl : double.NaN;
        return new PerplexityResult(ppl, uncertainty, mean, tokens.Length, chunks, nCtx, count);
    }

    /// <summary>-log softmax(row)[target] the way llama-perplexity computes it: float max and exps, summed in double.</summary>
    internal static double NegativeLogLikelihood(ReadOnlySpan<float> row, int target)
    {
        float max = row[0];
        for (int i = 1; i < row.Length; i++)
            max = Math.Max(max, row[i]);
        double sum = 0;
        for (int i = 0; i < row.Length; i++)
            sum += MathF.Exp(row[i] - max);
        return -((double)(row[target] - max) - Math.Log(sum));
    }
}
