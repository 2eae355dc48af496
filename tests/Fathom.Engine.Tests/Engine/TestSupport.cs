using Fathom.Engine;

namespace Fathom.Engine.Tests.Engine;

/// <summary>A clock tests move by hand.</summary>
internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// A model stand-in: the next token is a fixed function of the previous token and its position, so
/// outputs are deterministic and independent of batching. Tracks live sequences to prove they are released.
/// </summary>
internal sealed class FakeRunner : ISequenceRunner
{
    private readonly Dictionary<long, int> _positions = [];
    private readonly float[] _logits;
    private readonly int[] _avoid;

    public FakeRunner(int vocab = 512, params int[] avoid)
    {
        _logits = new float[vocab];
        _avoid = avoid;
    }

    public int VocabSize => _logits.Length;
    public int Live => _positions.Count;
    public int ForwardTokens { get; private set; }
    public int Attached { get; private set; }

    /// <summary>Set to block the scheduler thread inside Forward (tests of admission while busy).</summary>
    public ManualResetEventSlim Gate { get; } = new(true);

    public int Attach(Sequence s, int cached)
    {
        _positions[s.Id] = cached;
        Attached++;
        return cached;
    }

    public int Steps { get; private set; }
    public int MostSequencesInAStep { get; private set; }
    private float[] _rows = [];

    public ReadOnlySpan<float> Forward(IReadOnlyList<(Sequence Sequence, int Tokens)> batch)
    {
        Gate.Wait();
        Steps++;
        MostSequencesInAStep = Math.Max(MostSequencesInAStep, batch.Count);
        if (_rows.Length < batch.Count * _logits.Length)
            _rows = new float[batch.Count * _logits.Length];
        int row = 0;
        foreach (var (s, n) in batch)
        {
            var tokens = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens).Slice(s.Computed, n);
            if (_positions[s.Id] != s.Computed)
                throw new InvalidOperationException("position mismatch");
            _positions[s.Id] += tokens.Length;
            ForwardTokens += tokens.Length;
            if (s.Computed + n < s.Tokens.Count)
                continue;
            var logits = _rows.AsSpan(row++ * _logits.Length, _logits.Length);
            logits.Clear();
            int pos = _positions[s.Id];
            logits[Next(tokens[^1], pos, _logits.Length, _avoid)] = 10;
        }
        return _rows.AsSpan(0, row * _logits.Length);
    }

    public List<int> DroppedPages { get; } = [];

    public void Dropped(int page) => DroppedPages.Add(page);

    public static int Next(int last, int pos, int vocab, int[] avoid)
    {
        int t = (last * 7 + pos * 3 + 1) % vocab;
        while (avoid.Contains(t))
            t = (t + 1) % vocab;
        return t;
    }

    public void Release(Sequence s, bool keep) => _positions.Remove(s.Id);

    public void Dispose() => Gate.Dispose();
}
