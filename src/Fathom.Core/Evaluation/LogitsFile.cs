using System.Buffers.Binary;
using Fathom.Models;

namespace Fathom.Evaluation;

/// <summary>A base-run logits file that is corrupt, truncated or made for other inputs than the run comparing to it.</summary>
public sealed class LogitsFileException(string message) : Exception(message);

/// <summary>
/// The base run of a KL-divergence comparison, written by <see cref="LogitsFile.Save"/>. Layout (little-endian):
/// magic "FTHMLOGP", u32 version (1), u32 n_vocab, u32 n_ctx, u32 chunks, u32 rows per chunk, u32 text token count,
/// u64 FNV-1a fingerprint of the scored chunks' tokens (BOS substitution included); then one record per scored
/// position in evaluation order: i32 top-1 token, f32 log-probability of the next token, f16[n_vocab] log-probabilities.
/// </summary>
public static class LogitsFile
{
    internal const int Version = 1;
    internal const int HeaderBytes = 40;
    private static ReadOnlySpan<byte> Magic => "FTHMLOGP"u8;

    /// <summary>Bytes of one position's record for a vocabulary of <paramref name="vocab"/>.</summary>
    internal static long RecordBytes(int vocab) => 8 + 2L * vocab;

    /// <summary>Scores <paramref name="tokens"/> like <see cref="Perplexity"/> and writes every scored position's distribution to <paramref name="output"/>.</summary>
    public static PerplexityResult Save(Model model, ReadOnlySpan<int> tokens, int chunkBos, PerplexityOptions options, Stream output,
        Action<PerplexityProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        var header = Header.For(model, tokens, chunkBos, options);
        Span<byte> head = stackalloc byte[HeaderBytes];
        header.Write(head);
        output.Write(head);
        int vocab = model.Config.VocabSize;
        var record = new byte[RecordBytes(vocab)];
        return Perplexity.Evaluate(model, tokens, chunkBos, options, progress, (logits, next) =>
        {
            double lse = LogSumExp(logits);
            int top = ArgMax(logits);
            BinaryPrimitives.WriteInt32LittleEndian(record, top);
            BinaryPrimitives.WriteSingleLittleEndian(record.AsSpan(4), (float)(logits[next] - lse));
            var body = record.AsSpan(8);
            for (int i = 0; i < logits.Length; i++)
                BinaryPrimitives.WriteHalfLittleEndian(body[(2 * i)..], (Half)(float)(logits[i] - lse));
            output.Write(record);
        });
    }

    /// <summary>log Σ exp(row), with the max taken out first and the sum in double.</summary>
    internal static double LogSumExp(ReadOnlySpan<float> row)
    {
        float max = row[0];
        for (int i = 1; i < row.Length; i++)
            max = Math.Max(max, row[i]);
        double sum = 0;
        for (int i = 0; i < row.Length; i++)
            sum += Math.Exp(row[i] - max);
        return max + Math.Log(sum);
    }

    /// <summary>The first index of the largest value.</summary>
    internal static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
            if (row[i] > row[best])
                best = i;
        return best;
    }

    internal readonly record struct Header(int Vocab, int Context, int Chunks, int RowsPerChunk, int TextTokens, ulong Fingerprint)
    {
        public long Records => (long)Chunks * RowsPerChunk;

        public static Header For(Model model, ReadOnlySpan<int> tokens, int chunkBos, PerplexityOptions options)
        {
            int nCtx = options.ContextLength;
            int chunks = nCtx > 0 ? tokens.Length / nCtx : 0;
            if (options.MaxChunks > 0)
                chunks = Math.Min(chunks, options.MaxChunks);
            ulong hash = 14695981039346656037UL;
            for (int i = 0; i < chunks * nCtx; i++)
            {
                int t = i % nCtx == 0 && chunkBos >= 0 ? chunkBos : tokens[i];
                hash = (hash ^ (uint)t) * 1099511628211UL;
            }
            return new Header(model.Config.VocabSize, nCtx, chunks, Math.Max(0, nCtx - 1 - nCtx / 2), tokens.Length, hash);
        }

        public void Write(Span<byte> b)
        {
            Magic.CopyTo(b);
            BinaryPrimitives.WriteInt32LittleEndian(b[8..], Version);
            BinaryPrimitives.WriteInt32LittleEndian(b[12..], Vocab);
            BinaryPrimitives.WriteInt32LittleEndian(b[16..], Context);
            BinaryPrimitives.WriteInt32LittleEndian(b[20..], Chunks);
            BinaryPrimitives.WriteInt32LittleEndian(b[24..], RowsPerChunk);
            BinaryPrimitives.WriteInt32LittleEndian(b[28..], TextTokens);
            BinaryPrimitives.WriteUInt64LittleEndian(b[32..], Fingerprint);
        }

        /// <summary>Reads and sanity-checks a header; <paramref name="length"/> is the whole file's size (-1: unknown).</summary>
        public static Header Read(ReadOnlySpan<byte> b, long length)
        {
            if (b.Length < HeaderBytes || !b[..8].SequenceEqual(Magic))
                throw new LogitsFileException("not a Fathom logits file (bad magic)");
            int version = BinaryPrimitives.ReadInt32LittleEndian(b[8..]);
            if (version != Version)
                throw new LogitsFileException($"logits file version {version} is not supported (expected {Version})");
            var h = new Header(BinaryPrimitives.ReadInt32LittleEndian(b[12..]), BinaryPrimitives.ReadInt32LittleEndian(b[16..]),
                BinaryPrimitives.ReadInt32LittleEndian(b[20..]), BinaryPrimitives.ReadInt32LittleEndian(b[24..]),
                BinaryPrimitives.ReadInt32LittleEndian(b[28..]), BinaryPrimitives.ReadUInt64LittleEndian(b[32..]));
            if (h.Vocab < 1 || h.Context < 4 || h.Chunks < 1 || h.RowsPerChunk != h.Context - 1 - h.Context / 2 || h.TextTokens < (long)h.Chunks * h.Context)
                throw new LogitsFileException($"logits file header is inconsistent (n_vocab {h.Vocab}, n_ctx {h.Context}, chunks {h.Chunks}, rows {h.RowsPerChunk}, tokens {h.TextTokens})");
            long expected = HeaderBytes + h.Records * RecordBytes(h.Vocab);
            if (length >= 0 && length != expected)
                throw new LogitsFileException($"logits file is {length} bytes; its header promises {expected} (truncated or corrupt)");
            return h;
        }
    }
}
