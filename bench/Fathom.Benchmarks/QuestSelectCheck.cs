using System.Diagnostics;
using Fathom.KvPolicies;

namespace Fathom.Benchmarks;

/// <summary>
/// Quest's top-k page choice alone, one thread: µs per call for n page scores and k pages (quest at 65536 with pages of
/// 64 and a budget of 4096: 1024 and 64). Scores are random, so ties are rare, as real page bounds' are.
/// Usage: select [n] [k].
/// </summary>
internal static class QuestSelectCheck
{
    public static void Run(string[] args)
    {
        int n = args.Length > 0 ? int.Parse(args[0]) : 1024, k = args.Length > 1 ? int.Parse(args[1]) : 64;
        var rng = new Random(1);
        var sets = new float[64][];
        for (int s = 0; s < sets.Length; s++)
        {
            sets[s] = new float[n];
            for (int i = 0; i < n; i++)
                sets[s][i] = (float)(rng.NextDouble() * 20 - 10);
        }
        var pages = new int[k];
        const int calls = 20000;
        for (int round = 0; round < 5; round++)
        {
            var sw = Stopwatch.StartNew();
            for (int c = 0; c < calls; c++)
                QuestPolicy.SelectTop(sets[c % sets.Length], n, k, pages);
            Console.WriteLine($"select top {k} of {n}: {sw.Elapsed.TotalMicroseconds / calls:F2} µs per call");
        }
    }
}
