namespace Fathom.Tests;

/// <summary>Measures what a warmed call allocates on the calling thread.</summary>
internal static class Allocations
{
    /// <summary>
    /// Bytes <paramref name="call"/> allocates on this thread: the least over <paramref name="attempts"/> measurements.
    /// <see cref="GC.GetAllocatedBytesForCurrentThread"/> can move by a few KiB when a collection started by another
    /// thread (tests run in parallel) refits this thread's allocation context between the two readings
    /// (dotnet/coreclr#10207), so one nonzero reading is not proof; an allocation the call really makes shows in every one.
    /// </summary>
    public static long Of(Action call, int attempts = 3)
    {
        long least = long.MaxValue;
        for (int i = 0; i < attempts && least != 0; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            call();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
