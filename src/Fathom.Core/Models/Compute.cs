namespace Fathom.Models;

/// <summary>Threads and scratch for one forward pass; splits row ranges across workers.</summary>
internal sealed class Compute
{
    private Half[] _half = [];

    public Compute(int threads) => Threads = Math.Max(1, threads);

    public int Threads { get; }

    /// <summary>Runs body over [0, count) split into at most <see cref="Threads"/> contiguous chunks.</summary>
    public void For(int count, Action<int, int> body)
    {
        if (Threads == 1 || count < 2)
        {
            body(0, count);
            return;
        }
        int chunks = Math.Min(Threads * 4, count);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Threads }, c =>
        {
            int r0 = (int)((long)count * c / chunks), r1 = (int)((long)count * (c + 1) / chunks);
            body(r0, r1);
        });
    }

    public Half[] HalfScratch(int length)
    {
        if (_half.Length < length)
            _half = new Half[length];
        return _half;
    }
}
