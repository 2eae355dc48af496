using System.Diagnostics;
using Fathom.Attention;
using Fathom.KvCache;

namespace Fathom.Benchmarks;

/// <summary>
/// The tiled decode step's page fold alone, one thread: ns per key row for one KV head's four query heads.
/// Usage: fold [pageSize] [kvHeads] [mem] [huge] [ahead=N] [q8_0] [read] [seq] [region=M] [flush=N[,M…]] [rounds=R] [short]. Without mem the rows are cache-resident; with
/// mem they are pages picked at random from 1 GiB (as quest reads them), laid out as the paged cache lays them (each KV
/// head's rows of a page contiguous), the next fold prefetched as the tiled path does (ahead=N: the fold N after it
/// instead; ahead=0: none). huge puts the 1 GiB in native memory advised for transparent huge pages; seq reads the pages in
/// address order and region=M picks them from the first M MiB only (the access pattern's and the page tables' share). Keys and values are
/// f16, or q8_0 with q8_0. read replaces the fold by a plain sum of the same bytes (the next fold's prefetched along the
/// way): the memory-only floor of the access pattern, to set the fold's time against. flush reads 64 MiB (untimed)
/// before every N-th fold, as the weights stream between two layers of a decode step, each interval alternated with the
/// others over R rounds (3 unless given) of 100 000 folds (20 000 with short); min and median are printed.
/// <c>fold sweep [rows…]</c> instead folds one KV head's rows, from the L1 cache, for each row count given (4 16 32 64
/// 128 256 unless given), the counts alternated over 30 rounds; the best time per fold splits it into a per-fold and a
/// per-row part.
/// </summary>
internal static unsafe class FoldCheck
{
    public static void Run(string[] args)
    {
        if (args.Contains("sweep"))
        {
            Sweep(args.Where(a => int.TryParse(a, out _)).Select(int.Parse).ToArray());
            return;
        }
        int ps = args.Length > 0 && int.TryParse(args[0], out int a0) ? a0 : 64;
        int kvHeads = args.Length > 1 && int.TryParse(args[1], out int a1) ? a1 : 8;
        bool mem = args.Contains("mem");
        var type = args.Contains("q8_0") ? KvType.Q8_0 : KvType.F16;
        const int d = 64, g = 4;
        int rowBytes = KvTypes.RowBytes(type, d);
        long pageBytes = 2L * ps * kvHeads * rowBytes;
        int pages = mem ? (int)((1L << 30) / pageBytes) : 1;
        var rng = new Random(1);
        long dataBytes = pages * pageBytes + 256;
        bool huge = args.Contains("huge");
        byte* hp = null;
        if (huge)
        {
            hp = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)dataBytes, 2 << 20);
            if (Madvise(hp, (nuint)dataBytes, 14) != 0)
                Console.WriteLine("madvise(MADV_HUGEPAGE) failed");
        }
        var data = huge ? new Span<byte>(hp, (int)Math.Min(dataBytes, int.MaxValue)) : new byte[dataBytes];
        var q = RandomRows(data, type, d, rowBytes, g, rng);
        int stride = d + 2;
        var state = new float[g * stride];
        var s = new float[DecodeStep.ScoreFloats(g, ps)];
        var scales = new float[DecodeStep.ScaleFloats(ps, d, d)];
        int reps = args.Contains("short") ? 20000 : 100000;
        bool read = args.Contains("read");
        float sink = 0;
        int ahead = args.FirstOrDefault(a => a.StartsWith("ahead=", StringComparison.Ordinal)) is { } ah ? int.Parse(ah[6..]) : 1;
        var pick = new int[reps + ahead];
        // seq: the pages in address order (each page's heads in turn), what the hardware prefetchers and the TLB like best;
        // region=M: random pages from the first M MiB only (8: the L3 cache and the TLB's reach; 64, 256: more page tables).
        bool seq = args.Contains("seq");
        int region = args.FirstOrDefault(a => a.StartsWith("region=", StringComparison.Ordinal)) is { } rg
            ? (int)Math.Clamp(long.Parse(rg[7..]) * (1 << 20) / pageBytes, 1, pages) : pages;
        for (int i = 0; i < pick.Length; i++)
            pick[i] = seq ? i / kvHeads % pages : rng.Next(region);
        fixed (byte* dp = data)
        fixed (float* qp = q)
        fixed (float* st = state)
        fixed (float* sp = s)
        fixed (float* sc = scales)
        {
            // flush=N[,M…]: before every N-th fold, 64 MiB are read (untimed), as a decode step's weights stream between two
            // layers' attention; the intervals alternate round by round in one process (0: never).
            int[] flushes = args.FirstOrDefault(a => a.StartsWith("flush=", StringComparison.Ordinal)) is { } ms ? ms[6..].Split(',').Select(int.Parse).ToArray() : [0];
            int roundsN = args.FirstOrDefault(a => a.StartsWith("rounds=", StringComparison.Ordinal)) is { } rn ? int.Parse(rn[7..]) : 3;
            var results = flushes.ToDictionary(f => f, _ => new List<double>());
            var junk = flushes.Any(f => f > 0) ? new byte[64 << 20] : [];
            for (int round = 0; round < roundsN * flushes.Length; round++)
            {
                int flush = flushes[round % flushes.Length];
                for (int i = 0; i < g; i++)
                {
                    new Span<float>(st + i * stride, stride).Clear();
                    st[i * stride] = float.NegativeInfinity;
                }
                var sw = Stopwatch.StartNew();
                for (int r = 0; r < reps; r++)
                {
                    if (flush > 0 && r % flush == 0)
                    {
                        sw.Stop();
                        for (int i = 0; i < junk.Length; i += 64)
                            sink += junk[i];
                        sw.Start();
                    }
                    int kh = r % kvHeads, nkh = (r + ahead) % kvHeads;
                    long k = Offset(pick[r], kh, false), v = Offset(pick[r], kh, true);
                    long nk = Offset(pick[r + ahead], nkh, false), nv = Offset(pick[r + ahead], nkh, true);
                    if (read)
                        sink += ReadOnly(dp + k, dp + v, (long)ps * rowBytes, dp + nk, dp + nv);
                    else
                        DecodeStep.FoldPage(type, type, true, qp, g, d, d, dp + k, rowBytes, dp + v, rowBytes, ps, 0.125f, default, 0, sp, st, stride, sc,
                            ahead == 0 ? null : dp + nk, ahead == 0 ? null : dp + nv, ps);
                }
                double ns = sw.Elapsed.TotalNanoseconds / reps / ps;
                results[flush].Add(ns);
            }
            foreach (var (m, l) in results)
            {
                l.Sort();
                Console.WriteLine($"{(read ? "read" : "fold")} {KvTypes.Name(type)}, page {ps}, {kvHeads} KV heads, {(mem ? "1 GiB" : "cache-resident")}" +
                    $"{(m > 0 ? $", 64 MiB read before every {m}th fold" : "")}: min {l[0]:F2}, median {l[l.Count / 2]:F2} ns per key row (4 query heads), {l.Count} rounds");
            }
        }

        if (sink == 1234.5f)
            Console.WriteLine(sink);

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
        static extern int Madvise(void* addr, nuint length, int advice);

        // The same bytes with no arithmetic but a sum: the memory-only floor for the fold's access pattern (the next
        // fold prefetched the same way).
        static float ReadOnly(byte* k, byte* v, long bytes, byte* nk, byte* nv)
        {
            var acc = System.Runtime.Intrinsics.Vector512<float>.Zero;
            for (long i = 0; i < bytes; i += 64)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(nk + i);
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(nv + i);
                acc += System.Runtime.Intrinsics.Vector512.Load((float*)(k + i)) + System.Runtime.Intrinsics.Vector512.Load((float*)(v + i));
            }
            return System.Runtime.Intrinsics.Vector512.Sum(acc);
        }

        // Bytes from the start of the data to KV head kh's first key (or value) of a head-major page.
        long Offset(int page, int kh, bool value) => page * pageBytes + (value ? (long)ps * kvHeads * rowBytes : 0) + (long)kh * ps * rowBytes;
    }

    // Fills data with rows of d uniform values in [−1, 1) encoded as type; returns a query of `heads` such rows, as floats.
    private static float[] RandomRows(Span<byte> data, KvType type, int d, int rowBytes, int heads, Random rng)
    {
        var row = new float[d];
        for (long at = 0; at + rowBytes <= data.Length; at += rowBytes)
        {
            for (int i = 0; i < d; i++)
                row[i] = (float)(rng.NextDouble() * 2 - 1);
            KvTypes.Encode(type, row, data.Slice((int)at, rowBytes));
        }
        var q = new float[heads * d];
        for (int i = 0; i < q.Length; i++)
            q[i] = (float)(rng.NextDouble() * 2 - 1);
        return q;
    }

    // One KV head's f16 rows (cache-resident) folded by four query heads, for each row count: the best ns per fold of
    // 30 rounds, the counts alternated so the machine's slow minutes fall on all of them alike.
    private static void Sweep(int[] sizes)
    {
        const int d = 64, g = 4, rowBytes = 2 * d;
        if (sizes.Length == 0)
            sizes = [4, 16, 32, 64, 128, 256];
        int ps = sizes.Max();
        var rng = new Random(1);
        var data = new byte[2L * ps * rowBytes];
        var q = RandomRows(data, KvType.F16, d, rowBytes, g, rng);
        int stride = d + 2;
        var state = new float[g * stride];
        var s = new float[DecodeStep.ScoreFloats(g, ps)];
        var scales = new float[DecodeStep.ScaleFloats(ps, d, d)];
        var best = new double[sizes.Length];
        Array.Fill(best, double.MaxValue);
        fixed (byte* k = data)
        fixed (float* qp = q)
        fixed (float* st = state)
        fixed (float* sp = s)
        fixed (float* sc = scales)
        {
            byte* v = k + (long)ps * rowBytes;
            for (int round = 0; round < 30; round++)
            {
                for (int z = 0; z < sizes.Length; z++)
                {
                    int rows = sizes[z], reps = 2_000_000 / rows;
                    for (int i = 0; i < g; i++)
                    {
                        new Span<float>(st + i * stride, stride).Clear();
                        st[i * stride] = float.NegativeInfinity;
                    }
                    var sw = Stopwatch.StartNew();
                    for (int r = 0; r < reps; r++)
                        DecodeStep.FoldPage(KvType.F16, KvType.F16, true, qp, g, d, d, k, rowBytes, v, rowBytes, rows, 0.125f, default, 0, sp, st, stride, sc,
                            k, v, rows);
                    best[z] = Math.Min(best[z], sw.Elapsed.TotalNanoseconds / reps);
                }
            }
        }
        for (int z = 0; z < sizes.Length; z++)
            Console.WriteLine($"fold sweep, {sizes[z],4} rows: best {best[z],8:F1} ns per fold, {best[z] / sizes[z],6:F2} ns per key row (4 query heads, 1 KV head, f16, L1)");
    }
}
