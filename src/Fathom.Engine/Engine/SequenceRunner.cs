using Fathom.Models;

namespace Fathom.Engine;

/// <summary>
/// Executes the forward pass for the scheduler's sequences. The seam lets the scheduler and the engine's
/// bookkeeping run under tests without a model, and a batched executor replace the per-sequence one.
/// </summary>
internal interface ISequenceRunner : IDisposable
{
    int VocabSize { get; }

    /// <summary>A sequence is admitted with <paramref name="cached"/> tokens the prefix cache holds; returns how many the runner really has (≤ the tokens minus one).</summary>
    int Attach(Sequence s, int cached);

    /// <summary>Computes <paramref name="tokens"/> at positions <see cref="Sequence.Computed"/>…; returns the last token's logits.</summary>
    ReadOnlySpan<float> Forward(Sequence s, ReadOnlySpan<int> tokens);

    /// <summary>The sequence left the scheduler; with <paramref name="keep"/> its KV may serve a later sequence that extends it.</summary>
    void Release(Sequence s, bool keep);
}

/// <summary>
/// One <see cref="ModelSession"/> per sequence, run one after another within a step. Finished
/// conversations park their session (LRU, bounded), so a next turn that extends the same tokens
/// resumes from it instead of prefilling again.
/// </summary>
internal sealed class SessionRunner : ISequenceRunner
{
    private readonly Model _model;
    private readonly int _context;
    private readonly int _threads;
    private readonly int _maxParked;
    private readonly Dictionary<long, ModelSession> _live = [];
    private readonly LinkedList<(int[] Tokens, ModelSession Session, UInt128 Tenant)> _parked = new();

    public SessionRunner(Model model, int contextLength, int threads, int maxParked)
    {
        _model = model;
        _context = contextLength;
        _threads = threads;
        _maxParked = maxParked;
    }

    public int VocabSize => _model.Config.VocabSize;

    public int Attach(Sequence s, int cached)
    {
        // The contiguous session can only resume where it stopped, so a parked session serves when all it computed is a prefix of the new tokens.
        LinkedListNode<(int[] Tokens, ModelSession Session, UInt128 Tenant)>? best = null;
        for (var n = _parked.First; n is not null; n = n.Next)
        {
            var t = n.Value.Tokens;
            // Sessions are never shared across tenants (the hash root is per tenant).
            if (n.Value.Tenant == s.HashRoot && t.Length < s.Tokens.Count && t.Length > (best?.Value.Tokens.Length ?? 0) && t.AsSpan().SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens)[..t.Length]))
                best = n;
        }
        if (best is not null)
        {
            _parked.Remove(best);
            Replace(s.Id, best.Value.Session);
            return best.Value.Tokens.Length;
        }
        Replace(s.Id, _model.CreateSession(_context, _threads));
        return 0;
    }

    public ReadOnlySpan<float> Forward(Sequence s, ReadOnlySpan<int> tokens)
    {
        var session = _live[s.Id];
        if (session.Position != s.Computed)
            throw new InvalidOperationException($"sequence {s.Id} is at {s.Computed} but its session at {session.Position}");
        return session.Forward(tokens);
    }

    public void Release(Sequence s, bool keep)
    {
        if (!_live.Remove(s.Id, out var session))
            return;
        if (!keep || _maxParked == 0 || session.Position == 0)
        {
            session.Dispose();
            return;
        }
        _parked.AddFirst((s.Tokens.GetRange(0, session.Position).ToArray(), session, s.HashRoot));
        while (_parked.Count > _maxParked)
        {
            _parked.Last!.Value.Session.Dispose();
            _parked.RemoveLast();
        }
    }

    public void Dispose()
    {
        foreach (var s in _live.Values)
            s.Dispose();
        foreach (var (_, s, _) in _parked)
            s.Dispose();
        _live.Clear();
        _parked.Clear();
    }

    private void Replace(long id, ModelSession session)
    {
        if (_live.Remove(id, out var old))
            old.Dispose();
        _live[id] = session;
    }
}
