namespace Fathom.Server;

/// <summary>Interactive requests in flight; background work (batches) waits until there are none.</summary>
internal sealed class ServerLoad
{
    private int _interactive;

    public int Interactive => Volatile.Read(ref _interactive);

    public void Enter() => Interlocked.Increment(ref _interactive);

    public void Exit() => Interlocked.Decrement(ref _interactive);

    /// <summary>Returns once no interactive request is running (polled: batch work is not latency-sensitive).</summary>
    public async Task WaitIdleAsync(CancellationToken cancellationToken)
    {
        while (Interactive > 0)
            await Task.Delay(20, cancellationToken);
    }
}
