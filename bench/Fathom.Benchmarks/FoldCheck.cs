using System.Diagnostics;
using Fathom.Attention;

namespace Fathom.Benchmarks;

/// <summary>
/// The tiled decode step's f16 page fold alone, one thread: ns per key row for one KV head's four query heads.
/// Usage: fold [pageSize] [kvHeads] [mem]. Without mem the rows are cache-resident; with mem they are pages picked at
/// random from 1 GiB (as quest reads them), laid out as the paged cache lays them (all KV heads side by side per row)
/// and, for comparison, head-major (each KV head's rows of a page contiguous), the next fold prefetched as the
/// tiled path does.
/// </summary>
internal static unsafe class FoldCheck
{
    public static void Run(string[] args)
    {
        int ps = args.Length > 0 ? int.Parse(args[0]) : 64, kvHeads = args.Length > 1 ? int.Parse(args[1]) : 8;
        bool mem = args.Contains("mem");
        const int d = 64, g = 4;
        int rowHalves = kvHeads * d;
        long pageHalves = 2L * ps * rowHalves;
        int pages = mem ? (int)((1L << 30) / (pageHalves * 2)) : 1;
        var rng = new Random(1);
        var data = new ushort[pages * pageHalves + 64];
        for (long i = 0; i < data.LongLength; i++)
            data[i] = BitConverter.HalfToUInt16Bits((Half)(rng.NextDouble() * 2 - 1));
        var q = new float[g * d];
        for (int i = 0; i < q.Length; i++)
            q[i] = (float)(rng.NextDouble() * 2 - 1);
        int stride = d + 2;
        var state = new float[g * stride];
        var s = new float[DecodeStep.ScoreFloats(g, ps)];
        const int reps = 100000;
        var pick = new int[reps + 1];
        for (int i = 0; i < pick.Length; i++)
            pick[i] = rng.Next(pages);
        fixed (ushort* dp = data)
        fixed (float* qp = q)
        fixed (float* st = state)
        fixed (float* sp = s)
        {
            foreach (bool headMajor in mem ? new[] { false, true } : [false])
            {
                for (int round = 0; round < 3; round++)
                {
                    for (int i = 0; i < g; i++)
                    {
                        new Span<float>(st + i * stride, stride).Clear();
                        st[i * stride] = float.NegativeInfinity;
                    }
                    var sw = Stopwatch.StartNew();
                    for (int r = 0; r < reps; r++)
                    {
                        int kh = r % kvHeads, nkh = (r + 1) % kvHeads;
                        long k = Offset(pick[r], kh, headMajor, false), v = Offset(pick[r], kh, headMajor, true);
                        long nk = Offset(pick[r + 1], nkh, headMajor, false), nv = Offset(pick[r + 1], nkh, headMajor, true);
                        int rs = headMajor ? d : rowHalves;
                        DecodeStep.FoldF16(true, qp, g, d, d, dp + k, rs, dp + v, rs, ps, 0.125f, default, 0, sp, st, stride, dp + nk, dp + nv, ps);
                    }
                    double ns = sw.Elapsed.TotalNanoseconds / reps / ps;
                    Console.WriteLine($"fold f16, page {ps}, {kvHeads} KV heads, {(mem ? headMajor ? "1 GiB, head-major" : "1 GiB, row-major" : "cache-resident")}: {ns:F2} ns per key row (4 query heads)");
                }
            }
        }

        // Halves from the start of the data to KV head kh's first key (or value) of a page.
        long Offset(int page, int kh, bool headMajor, bool value) =>
            page * pageHalves + (value ? (long)ps * rowHalves : 0) + (headMajor ? (long)kh * ps * d : kh * d);
    }
}
