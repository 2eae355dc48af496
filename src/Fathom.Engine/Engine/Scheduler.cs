namespace Fathom.Engine;

/// <summary>What one step runs: each scheduled sequence with its token count, plus sequences the step preempted or could not grow.</summary>
internal sealed class StepPlan
{
    public List<(Sequence Sequence, int Tokens)> Scheduled { get; } = [];

    /// <summary>Sent back to the waiting queue with their pages freed; they recompute when readmitted.</summary>
    public List<Sequence> Preempted { get; } = [];

    /// <summary>Alone and still out of pages: the pool cannot hold them; the engine ends them.</summary>
    public List<Sequence> Exhausted { get; } = [];

    public int TokenCount { get; set; }
}

/// <summary>
/// vLLM v1's scheduler: each step maps {sequence → tokens to compute} under a token budget. Running
/// sequences go first (decode needs 1, an unfinished prefill a chunk), then waiting ones are admitted in
/// arrival order, starting past their longest cached prefix. When pages run out the latest running
/// sequence is preempted (pages freed, recomputed later). Pure bookkeeping: no model, one thread.
/// </summary>
internal sealed class Scheduler
{
    private readonly PagePool _pool;
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = [];
    private readonly TimeProvider _clock;
    private readonly Func<Sequence, int, int>? _attach;

    /// <param name="attach">Told a newly admitted sequence's cached token count, returns how many the executor really holds (at most the prompt minus one).</param>
    public Scheduler(PagePool pool, int maxBatchTokens, int maxSequences, TimeProvider? clock = null, Func<Sequence, int, int>? attach = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatchTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSequences);
        _pool = pool;
        MaxBatchTokens = maxBatchTokens;
        MaxSequences = maxSequences;
        _clock = clock ?? TimeProvider.System;
        _attach = attach;
    }

    public int MaxBatchTokens { get; }
    public int MaxSequences { get; }
    public PagePool Pool => _pool;
    public int WaitingCount => _waiting.Count;
    public int RunningCount => _running.Count;
    public bool HasWork => _waiting.Count > 0 || _running.Count > 0;
    public IReadOnlyList<Sequence> Running => _running;
    public IEnumerable<Sequence> Waiting => _waiting;

    public void Add(Sequence s)
    {
        if (s.State != SequenceState.Waiting || s.Pages.Count > 0)
            throw new InvalidOperationException($"sequence {s.Id} is not new");
        if (s.Tokens.Count == 0)
            throw new ArgumentException("a sequence needs at least one token", nameof(s));
        _waiting.AddLast(s);
    }

    public StepPlan Schedule()
    {
        var plan = new StepPlan();
        int budget = MaxBatchTokens;
        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var s = _running[i];
            int n = Math.Min(s.Tokens.Count - s.Computed, budget);
            if (n <= 0)
                continue;
            bool fits = true;
            while (_pool.PagesFor(s.Computed + n) - s.Pages.Count > _pool.Available)
            {
                var victim = _running[^1];
                if (victim == s && i == 0)
                {
                    fits = false;
                    break;
                }
                Preempt(victim);
                plan.Preempted.Add(victim);
                if (victim == s)
                    break;
            }
            if (!fits)
            {
                plan.Exhausted.Add(s);
                continue;
            }
            if (s.State != SequenceState.Running)
                break;
            Grow(s, s.Computed + n);
            plan.Scheduled.Add((s, n));
            budget -= n;
        }

        // Admitting while preempting would thrash: new work waits for a step with room.
        while (plan.Preempted.Count == 0 && _waiting.First is { } node && budget > 0 && _running.Count < MaxSequences)
        {
            var s = node.Value;
            int n = Admit(s, budget);
            if (n < 0)
                break;
            _waiting.RemoveFirst();
            s.State = SequenceState.Running;
            _running.Add(s);
            if (n > 0)
            {
                plan.Scheduled.Add((s, n));
                budget -= n;
            }
        }
        plan.TokenCount = MaxBatchTokens - budget;
        return plan;
    }

    /// <summary>Records that <paramref name="tokens"/> more of the sequence are computed; full pages become cached.</summary>
    public void Advance(Sequence s, int tokens)
    {
        if (s.State != SequenceState.Running || s.Computed + tokens > s.Tokens.Count || s.Computed + tokens > s.Pages.Count * _pool.PageSize)
            throw new InvalidOperationException($"sequence {s.Id} cannot advance by {tokens}");
        s.Computed += tokens;
        RegisterFullPages(s);
    }

    /// <summary>Removes a sequence (done, cancelled or failed) and returns its pages, the tail first so that prefixes outlive suffixes in the LRU.</summary>
    public void Finish(Sequence s)
    {
        if (s.State == SequenceState.Finished)
            return;
        if (s.State == SequenceState.Running)
            _running.Remove(s);
        else
            _waiting.Remove(s);
        ReleasePages(s);
        s.State = SequenceState.Finished;
    }

    private int Admit(Sequence s, int budget)
    {
        // Longest cached run of full pages, leaving at least one prompt token to compute (its logits start the output).
        var hits = new List<(int Page, UInt128 Key)>();
        if (s.Pages.Count == 0)
        {
            var key = s.HashRoot;
            int ps = _pool.PageSize;
            int maxFull = (s.Tokens.Count - 1) / ps;
            for (int p = 0; p < maxFull; p++)
            {
                key = PageHash.Next(key, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens).Slice(p * ps, ps));
                if (!_pool.TryLookup(key, out int page))
                    break;
                hits.Add((page, key));
            }
        }
        int cached = hits.Count * _pool.PageSize;
        int n = Math.Min(s.Tokens.Count - cached, budget);
        int idleHits = hits.Count(h => _pool.RefCount(h.Page) == 0);
        if (_pool.PagesFor(cached + n) - hits.Count > _pool.Available - idleHits)
            return -1;
        foreach (var (page, key) in hits)
        {
            _pool.Retain(page);
            s.Pages.Add(page);
            s.PageKeys.Add(key);
        }
        s.Computed = cached;
        if (_attach is not null)
        {
            int held = _attach(s, cached);
            if (held < 0 || held >= s.Tokens.Count)
                throw new InvalidOperationException($"the executor claims {held} cached tokens of a {s.Tokens.Count}-token sequence");
            s.Computed = held;
        }
        if (s.CachedPromptTokens < 0)
            s.CachedPromptTokens = Math.Min(s.Computed, s.PromptLength);
        PinBreakpoints(s, 0);
        int target = Math.Min(s.Tokens.Count, s.Computed + budget);
        Grow(s, target);
        target = Math.Min(target, s.Pages.Count * _pool.PageSize);
        RegisterFullPages(s);
        return Math.Max(0, target - s.Computed);
    }

    private void Grow(Sequence s, int tokens)
    {
        int need = _pool.PagesFor(tokens);
        while (s.Pages.Count < need && _pool.TryAllocate(out int page))
            s.Pages.Add(page);
    }

    private void RegisterFullPages(Sequence s)
    {
        int ps = _pool.PageSize;
        int from = s.PageKeys.Count;
        int full = Math.Min(s.Computed / ps, s.Pages.Count);
        var tokens = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens);
        for (int p = from; p < full; p++)
        {
            var parent = p == 0 ? s.HashRoot : s.PageKeys[p - 1];
            var key = PageHash.Next(parent, tokens.Slice(p * ps, ps));
            _pool.Register(s.Pages[p], key);
            s.PageKeys.Add(key);
        }
        PinBreakpoints(s, from);
    }

    private void PinBreakpoints(Sequence s, int fromPage)
    {
        foreach (var bp in s.Breakpoints)
        {
            int tokens = bp.TokenCount < 0 ? s.PromptLength : Math.Min(bp.TokenCount, s.PromptLength);
            int pages = Math.Min(tokens / _pool.PageSize, s.PageKeys.Count);
            var until = _clock.GetUtcNow() + bp.Ttl;
            for (int p = fromPage; p < pages; p++)
                _pool.Pin(s.Pages[p], until);
        }
    }

    private void Preempt(Sequence s)
    {
        _running.Remove(s);
        ReleasePages(s);
        s.Computed = 0;
        s.Preemptions++;
        s.State = SequenceState.Waiting;
        _waiting.AddFirst(s);
    }

    private void ReleasePages(Sequence s)
    {
        for (int p = s.Pages.Count - 1; p >= 0; p--)
            _pool.Release(s.Pages[p]);
        s.Pages.Clear();
        s.PageKeys.Clear();
    }
}
