using System.Diagnostics;
using Fathom.Attention;
using Fathom.KvCache;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// Decode attention alone at depth, 1B-shaped heads (32 query heads, 8 KV heads of 64, f16 KV in 64-slot pages):
/// time per call and per cached position, for a cache larger than the caches (all layers cycled) and for one layer
/// read again and again (warm). Usage: attn [threads] [depths…] [exact|tiled|quest[:page=P][:dense=D] [budget=N]] [kv1] [rounds=N] [selectonly [cold]]; kv1 keeps one
/// KV head of four query heads, so each row is one head's 128 bytes (a head-contiguous layout, for comparison); quest runs
/// the tiled path under quest with a budget of 4096 positions unless given (pages of 16 unless given; no dense layers unless given);
/// selectonly times quest's page choice alone (bound scoring and top-k per KV head, one thread, best and median of 40
/// rounds; cold streams 256 MiB before each round so the bounds come from memory, as in a decode step).
/// </summary>
internal static class AttentionDepthCheck
{
    public static void Run(int threads, string[] args)
    {
        var depths = args.Where(a => !a.Contains('=', StringComparison.Ordinal) && int.TryParse(a, out _)).Select(int.Parse).ToArray();
        if (depths.Length == 0)
            depths = [4096, 16384];
        string? questSpec = args.FirstOrDefault(a => a.StartsWith("quest", StringComparison.Ordinal));
        bool tiled = args.Contains("tiled") || questSpec is not null;
        var quest = questSpec is null ? null : (Fathom.KvPolicies.QuestPolicy)Fathom.KvPolicies.KvPolicy.Create(
            questSpec.Contains("dense=", StringComparison.Ordinal) ? questSpec : questSpec + ":dense=0",
            args.FirstOrDefault(a => a.StartsWith("budget=", StringComparison.Ordinal)) is { } b ? int.Parse(b[7..]) : 4096);
        const int layers = 16, d = 64;
        int kvHeads = args.Contains("kv1") ? 1 : 8, heads = 4 * kvHeads;
        using var pool = new WorkerPool(threads);
        var shape = new AttentionShape(heads, kvHeads, d, d, 1f / MathF.Sqrt(d));
        var rng = new Random(1);
        // Queries vary between calls (as a decode's do), so a sparse policy's pages change and come from memory, not the caches.
        var qs = new float[61][];
        for (int c = 0; c < qs.Length; c++)
        {
            qs[c] = new float[heads * d];
            for (int i = 0; i < qs[c].Length; i++)
                qs[c][i] = (float)(rng.NextDouble() * 2 - 1);
        }
        int call = 0;
        var o = new float[heads * d];
        foreach (int depth in depths)
        {
            using var manager = new KvCacheManager(new KvCacheOptions
            {
                Layers = layers, KvHeads = kvHeads, KeyLength = d, ValueLength = d, PageSize = quest?.Page ?? 64, TrackKeyBounds = quest is not null,
            });
            var seq = manager.Create(depth + 1);
            var k = new float[kvHeads * d];
            var v = new float[kvHeads * d];
            for (int l = 0; l < layers; l++)
            {
                for (int p = 0; p <= depth; p++)
                {
                    for (int i = 0; i < k.Length; i++)
                    {
                        k[i] = (float)(rng.NextDouble() * 2 - 1);
                        v[i] = (float)(rng.NextDouble() * 2 - 1);
                    }
                    seq.Store(l, p, k, v);
                }
            }
            Fathom.KvPolicies.KvPolicyRunner? runner = null;
            if (quest is not null)
            {
                runner = new Fathom.KvPolicies.KvPolicyRunner(quest, seq, new Fathom.KvPolicies.KvPolicyGeometry(layers, kvHeads, heads / kvHeads, d, d, depth + 1, quest.Page));
                runner.Restored(depth);
                runner.BeginForward(depth, 1);
            }
            if (quest is not null && args.Contains("selectonly"))
            {
                var pagesOut = new int[seq.PageCount(0)];
                // cold: 256 MiB are streamed before each round, as a decode step's weights stream between two page choices
                // of a layer, so the bounds come from memory; the median is reported with the best.
                var junk = args.Contains("cold") ? new byte[256 << 20] : null;
                var times = new List<double>();
                for (int round = 0; round < 40; round++)
                {
                    if (junk is not null)
                    {
                        for (int i = 0; i < junk.Length; i += 64)
                            junk[i]++;
                    }
                    var sw0 = Stopwatch.StartNew();
                    for (int l = 0; l < layers; l++)
                    {
                        var q = qs[call++ % qs.Length];
                        for (int kh = 0; kh < kvHeads; kh++)
                            quest.SelectPages(seq, l, kh, q.AsSpan(kh * 4 * d, 4 * d), pagesOut);
                    }
                    times.Add(sw0.Elapsed.TotalMicroseconds / (layers * kvHeads));
                }
                times.Sort();
                Console.WriteLine($"select{(junk is null ? "" : " (cold)")}: best {times[0]:F2} us, median {times[times.Count / 2]:F2} us per KV head (1 thread, {seq.PageCount(0)} pages)");
                continue;
            }
            void Call(int l)
            {
                var q = qs[call++ % qs.Length];
                if (tiled)
                    TiledAttention.Compute(seq, l, q, 1, depth, shape, o, pool, runner);
                else
                    CausalAttention.Compute(seq, l, q, 1, depth, shape, o, pool);
            }
            for (int l = 0; l < layers; l++)
                Call(l);
            int rounds = args.FirstOrDefault(a => a.StartsWith("rounds=", StringComparison.Ordinal)) is { } rs ? int.Parse(rs[7..]) : 3;
            for (int round = 0; round < rounds; round++)
            {
                var sw = Stopwatch.StartNew();
                int calls = 0;
                for (int r = 0; r < 4; r++)
                {
                    for (int l = 0; l < layers; l++, calls++)
                        Call(l);
                }
                double cold = sw.Elapsed.TotalMilliseconds / calls;
                sw.Restart();
                for (int r = 0; r < calls; r++)
                    Call(0);
                double warm = sw.Elapsed.TotalMilliseconds / calls;
                Console.WriteLine($"depth {depth,6} {questSpec ?? (tiled ? "tiled" : "exact")}: all layers {cold:F3} ms/call ({cold * 1e6 / (depth + 1):F1} ns/pos, {layers * cold:F1} ms/token)   one layer {warm:F3} ms/call ({warm * 1e6 / (depth + 1):F1} ns/pos)");
            }
            manager.Free(seq);
        }
    }
}
