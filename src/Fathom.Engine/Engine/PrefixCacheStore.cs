using System.Text;

namespace Fathom.Engine;

/// <summary>
/// Keeps the prefix cache across restarts: on shutdown every cached page (its chained key and the KV
/// of each layer) is written to one file; on start the pages come back idle, in LRU order, while the
/// pool has room. A file from another model or layout, or a damaged one, is ignored (the cache starts
/// empty) — a cache is never worth failing a start for.
/// </summary>
internal static class PrefixCacheStore
{
    private const string Magic = "FATHOMPC";
    // 2: pages are head-major (each KV head's rows of a page contiguous); a version-1 file is not read.
    private const int Version = 2;

    public static string FileIn(string directory) => Path.Combine(directory, "prefix-cache.bin");

    public static int Save(string directory, PagePool pool, BatchRunner runner)
    {
        Directory.CreateDirectory(directory);
        string file = FileIn(directory), temp = file + ".tmp";
        int written = 0;
        using (var w = new BinaryWriter(File.Create(temp), Encoding.UTF8))
        {
            w.Write(Encoding.ASCII.GetBytes(Magic));
            w.Write(Version);
            w.Write(runner.Fingerprint);
            var entries = pool.CachedEntries().Where(e => runner.PageData(e.Page) is not null).ToList();
            w.Write(entries.Count);
            foreach (var (page, key) in entries)
            {
                w.Write((ulong)key);
                w.Write((ulong)(key >> 64));
                foreach (var data in runner.PageData(page)!)
                    w.Write(data);
                written++;
            }
        }
        File.Move(temp, file, overwrite: true);
        return written;
    }

    public static int Load(string directory, PagePool pool, BatchRunner runner)
    {
        string file = FileIn(directory);
        if (!File.Exists(file))
            return 0;
        int restored = 0;
        try
        {
            using var r = new BinaryReader(File.OpenRead(file), Encoding.UTF8);
            if (Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic || r.ReadInt32() != Version || r.ReadString() != runner.Fingerprint)
                return 0;
            int count = r.ReadInt32();
            long entryBytes = 16 + (long)runner.Layers * runner.PageBytes;
            if (count < 0 || count * entryBytes > r.BaseStream.Length - r.BaseStream.Position)
                return 0;
            for (int i = 0; i < count; i++)
            {
                var key = r.ReadUInt64() | ((UInt128)r.ReadUInt64() << 64);
                if (!pool.TryRestore(key, out int page))
                {
                    r.BaseStream.Seek(entryBytes - 16, SeekOrigin.Current);
                    continue;
                }
                runner.Restore(page, (_, dst) => r.BaseStream.ReadAtLeast(dst, dst.Length, throwOnEndOfStream: false) == dst.Length);
                restored++;
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            // Pages restored before the damage stay; they were read whole.
        }
        return restored;
    }
}
