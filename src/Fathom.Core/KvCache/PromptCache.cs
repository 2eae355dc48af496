using System.Buffers.Binary;
using System.Security.Cryptography;
using Fathom.Models;

namespace Fathom.KvCache;

/// <summary>A prompt cache file that cannot be used: another model, another cache layout, or damaged.</summary>
public sealed class PromptCacheException(string message) : IOException(message);

/// <summary>
/// Saved prompt caches: a prefilled sequence's token ids, its K/V rows (as stored, any cache type) and
/// the model's fingerprint (SHA-256 of the GGUF header and tensor infos). Loading reuses the longest
/// prefix shared with a new prompt, so only the rest is prefilled. Files end with a SHA-256 of all
/// that precedes it; writes go to a temporary file renamed into place.
/// </summary>
public static class PromptCache
{
    private const ulong Magic = 0x3130564B4D485446; // "FTHMKV01"

    /// <summary>SHA-256 of the model file's bytes before the tensor data (header, metadata, tensor infos).</summary>
    public static byte[] Fingerprint(Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var f = File.OpenRead(model.File.Path ?? throw new InvalidOperationException("the model was not loaded from a file"));
        var head = new byte[model.File.DataOffset];
        f.ReadExactly(head);
        return SHA256.HashData(head);
    }

    /// <summary>Saves the session's cached positions and the <paramref name="tokens"/> that produced them.</summary>
    public static void Save(ModelSession session, ReadOnlySpan<int> tokens, string path)
    {
        ArgumentNullException.ThrowIfNull(session);
        var s = session.Sequence;
        if (tokens.Length != session.Position || !s.IsDense || s.SlotCount(0) != tokens.Length)
            throw new InvalidOperationException($"the session holds {session.Position} positions ({s.SlotCount(0)} slots) but {tokens.Length} tokens were given; only a dense, fully prefilled sequence can be saved");
        var o = session.KvCache.Options;
        string full = Path.GetFullPath(path);
        string temp = full + $".tmp{Environment.ProcessId}";
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                void Put(ReadOnlySpan<byte> b)
                {
                    f.Write(b);
                    hash.AppendData(b);
                }
                Span<byte> head = stackalloc byte[8 + 32 + 8 * 4];
                BinaryPrimitives.WriteUInt64LittleEndian(head, Magic);
                Fingerprint(session.Model).CopyTo(head[8..]);
                int[] fields = [o.Layers, o.KvHeads, o.KeyLength, o.ValueLength, (int)o.KeyType, (int)o.ValueType, tokens.Length, o.PageSize];
                for (int i = 0; i < fields.Length; i++)
                    BinaryPrimitives.WriteInt32LittleEndian(head[(40 + 4 * i)..], fields[i]);
                Put(head);
                Put(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens));
                int kb = o.KeyRowBytes, vb = o.ValueRowBytes, ps = o.PageSize;
                var keys = new byte[ps * kb];
                var values = new byte[ps * vb];
                for (int l = 0; l < o.Layers; l++)
                {
                    for (int p = 0; p < s.PageCount(l); p++)
                    {
                        // Row-major in the file (each row's KV heads side by side), whatever the page layout in memory.
                        int rows = s.PageRows(l, p);
                        s.ReadEncodedRows(l, p, rows, keys, values);
                        Put(keys.AsSpan(0, rows * kb));
                        Put(values.AsSpan(0, rows * vb));
                    }
                }
                f.Write(hash.GetHashAndReset());
                f.Flush(true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Restores into the (reset) session the longest prefix of the saved tokens shared with
    /// <paramref name="prompt"/>, leaving at least one prompt token to run, and returns its length.
    /// A missing file restores nothing (returns 0); an unusable one throws <see cref="PromptCacheException"/>.
    /// </summary>
    public static int Load(ModelSession session, string path, ReadOnlySpan<int> prompt)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!File.Exists(path))
            return 0;
        var o = session.KvCache.Options;
        byte[] bytes = File.ReadAllBytes(path);
        const int head = 8 + 32 + 8 * 4;
        if (bytes.Length < head + 32 || BinaryPrimitives.ReadUInt64LittleEndian(bytes) != Magic)
            throw new PromptCacheException($"{path} is not a Fathom prompt cache (or is truncated)");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new PromptCacheException($"{path} is damaged or truncated (checksum mismatch)");
        if (!bytes.AsSpan(8, 32).SequenceEqual(Fingerprint(session.Model)))
            throw new PromptCacheException($"{path} was saved for a different model");
        Span<int> f = stackalloc int[8];
        for (int i = 0; i < 8; i++)
            f[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(40 + 4 * i));
        if (f[0] != o.Layers || f[1] != o.KvHeads || f[2] != o.KeyLength || f[3] != o.ValueLength || f[4] != (int)o.KeyType || f[5] != (int)o.ValueType)
            throw new PromptCacheException($"{path} holds a {KvTypes.Name((KvType)f[4])}/{KvTypes.Name((KvType)f[5])} cache of another layout; this session uses {KvTypes.Name(o.KeyType)}/{KvTypes.Name(o.ValueType)}");
        int n = f[6], savedPage = f[7];
        if (savedPage <= 0)
            throw new PromptCacheException($"{path}: bad page size {savedPage}");
        int kb = o.KeyRowBytes, vb = o.ValueRowBytes;
        if (n < 0 || (long)head + 4L * n + (long)o.Layers * n * (kb + vb) != body.Length)
            throw new PromptCacheException($"{path}: its size does not match its {n} tokens");
        var saved = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(bytes.AsSpan(head, 4 * n));
        int reuse = 0, limit = Math.Min(Math.Min(n, prompt.Length - 1), session.ContextLength);
        while (reuse < limit && saved[reuse] == prompt[reuse])
            reuse++;
        session.Reset();
        if (reuse == 0)
            return 0;
        var s = session.Sequence;
        long offset = head + 4L * n;
        for (int l = 0; l < o.Layers; l++)
        {
            // rows of one layer are saved page by page: all key rows of a page, then its value rows
            long pageStart = offset;
            for (int p0 = 0; p0 < reuse; p0 += savedPage)
            {
                int rows = Math.Min(savedPage, n - p0);
                int use = Math.Min(rows, reuse - p0);
                for (int r = 0; r < use; r++)
                {
                    s.StoreEncoded(l, p0 + r,
                        bytes.AsSpan((int)(pageStart + (long)r * kb), kb),
                        bytes.AsSpan((int)(pageStart + (long)rows * kb + (long)r * vb), vb));
                }
                pageStart += (long)rows * (kb + vb);
            }
            offset += (long)n * (kb + vb);
        }
        session.Restored(reuse);
        return reuse;
    }
}
