using System.Diagnostics;

namespace Fathom.Attention;

/// <summary>
/// Wall time of the tiled attention's decode steps by phase, summed over the layer calls made while it is attached to a
/// sequence (<see cref="KvCache.KvSequence.Timing"/>): where a long context's attention time goes. Decode steps only
/// (one query token); prefill chunks are not counted.
/// </summary>
public sealed class AttentionTiming
{
    /// <summary>Layer calls counted.</summary>
    public long Calls { get; private set; }

    /// <summary>The policy's page choice (quest's bound scoring and top-k), all KV heads.</summary>
    public TimeSpan PageChoice { get; private set; }

    /// <summary>Gathering the chosen pages (and bringing spilled ones back from disk).</summary>
    public TimeSpan Gather { get; private set; }

    /// <summary>The fold of the chosen keys and values into each head's online softmax, on the pool's threads.</summary>
    public TimeSpan Fold { get; private set; }

    /// <summary>Merging the splits' partial results and whatever the policy reads after the step.</summary>
    public TimeSpan Merge { get; private set; }

    /// <summary>All phases.</summary>
    public TimeSpan Total => PageChoice + Gather + Fold + Merge;

    // Stopwatch timestamps at the phase boundaries of one layer call.
    internal void Add(long start, long chosen, long gathered, long folded, long end)
    {
        Calls++;
        PageChoice += Stopwatch.GetElapsedTime(start, chosen);
        Gather += Stopwatch.GetElapsedTime(chosen, gathered);
        Fold += Stopwatch.GetElapsedTime(gathered, folded);
        Merge += Stopwatch.GetElapsedTime(folded, end);
    }
}
