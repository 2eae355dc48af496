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

    public ReadOnlySpan<float> Forward(Sequence s, ReadOnlySpan<int> tokens)
    {
        Gate.Wait();
        if (_positions[s.Id] != s.Computed)
            throw new InvalidOperationException("position mismatch");
        _positions[s.Id] += tokens.Length;
        ForwardTokens += tokens.Length;
        Array.Clear(_logits);
        int pos = _positions[s.Id];
        int next = Next(tokens[^1], pos, _logits.Length, _avoid);
        _logits[next] = 10;
        return _logits;
    }

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
