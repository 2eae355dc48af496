using System.Runtime.InteropServices;
using Fathom.Attention;
using Fathom.KvCache;

namespace Fathom.KvPolicies;

/// <summary>
/// Runs an <see cref="IKvPolicy"/> inside a session's forward pass through <see cref="IAttentionHooks"/>.
/// The first forward call is the prefill (full attention; the scores the policy asks for are collected),
/// and when it ends the policy may evict. Every later single-token call is a decode step: the policy picks
/// the positions each KV head reads (quest picks whole KV pages from the cache's page bounds), attention
/// reads only those, and afterwards the policy sees the weights and may evict. An evicted position leaves
/// the cache (its slot is compacted away and empty pages go back to the pool) once no KV head of its layer
/// keeps it; a head that dropped a position another head still keeps is masked from it. Later
/// multi-token calls run over what is resident and then let the policy evict as after a decode step.
/// </summary>
internal sealed class KvPolicyRunner : IAttentionHooks, IKeyRows
{
    private readonly KvSequence _seq;
    private readonly KvPolicyGeometry _g;
    private readonly QuestPolicy? _quest;
    private readonly float[][] _columnSums, _windowVotes;
    private readonly List<int>[] _reads;
    private readonly int[][] _readSlots;
    private readonly float[][] _weights;
    private readonly byte[]?[] _selectMask, _residentMask;
    private readonly bool[] _selecting, _masking;
    private readonly int[] _selectLength, _maskLength;
    private readonly float[] _key;
    private long _lastStepReads, _lastStepPages, _lastStepScoredPages;
    private bool _prefillEnded;
    private int _first, _tokens, _voteFrom;

    public KvPolicyRunner(IKvPolicy policy, KvSequence sequence, KvPolicyGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(sequence);
        ArgumentNullException.ThrowIfNull(geometry);
        Policy = policy;
        _seq = sequence;
        _g = geometry;
        _quest = policy as QuestPolicy;
        if (_quest is not null && sequence.PageSize != _quest.Page)
            throw new ArgumentException($"quest pages of {_quest.Page} positions need a cache with pages of that size (it has {sequence.PageSize})", nameof(sequence));
        int heads = geometry.Layers * geometry.KvHeads;
        _columnSums = new float[heads][];
        _windowVotes = new float[heads][];
        _reads = new List<int>[heads];
        _readSlots = new int[heads][];
        _weights = new float[heads][];
        _selectMask = new byte[heads][];
        _residentMask = new byte[heads][];
        _selecting = new bool[heads];
        _masking = new bool[heads];
        _selectLength = new int[heads];
        _maskLength = new int[heads];
        for (int i = 0; i < heads; i++)
        {
            _columnSums[i] = policy.NeedsPrefillColumnSums ? new float[geometry.Context] : [];
            _windowVotes[i] = policy.ObservationWindow > 0 ? new float[geometry.Context] : [];
            _reads[i] = [];
            _readSlots[i] = [];
            _weights[i] = [];
        }
        _key = new float[geometry.KeyLength];
        _deadSlots = new int[geometry.Layers];
        Residency = new KvResidency(geometry);
        policy.Begin(geometry);
    }

    public IKvPolicy Policy { get; }

    /// <summary>Which positions each layer's KV heads keep.</summary>
    public KvResidency Residency { get; }

    /// <summary>True once the policy evicted a position (the cache can no longer be rewound).</summary>
    public bool Evicted { get; private set; }

    /// <summary>Positions evicted from the cache so far, summed over layers (a position counts once per layer).</summary>
    public long EvictedSlots { get; private set; }

    // Per layer: slots no head keeps any more that are still in the cache, masked (see Compact).
    private readonly int[] _deadSlots;

    /// <summary>Slots of <paramref name="layer"/> that no head keeps but that are still in the cache, masked.</summary>
    public int DeadSlots(int layer) => _deadSlots[layer];

    /// <summary>Drops evicted slots every step instead of a page at a time (tests compare the two).</summary>
    internal bool CompactEveryStep { get; set; }

    /// <summary>KV positions read by the last decode step, summed over layers and KV heads.</summary>
    public long LastStepReads => _lastStepReads;

    /// <summary>KV pages read by the last decode step, summed over layers and KV heads.</summary>
    public long LastStepPages => _lastStepPages;

    /// <summary>Quest page bounds scored by the last decode step, summed over layers and KV heads.</summary>
    public long LastStepScoredPages => _lastStepScoredPages;

    /// <summary>Quest scores each KV head's pages from the cache's bounds and per-thread scratch only; other policies say whether their reads may be chosen at once.</summary>
    public bool SelectsConcurrently => _quest is not null || Policy.SelectsReadsConcurrently;

    private bool Decoding => _prefillEnded && _tokens == 1;

    /// <summary>A forward call of <paramref name="tokens"/> tokens from <paramref name="first"/> begins.</summary>
    public void BeginForward(int first, int tokens)
    {
        _first = first;
        _tokens = tokens;
        _voteFrom = first + tokens - Policy.ObservationWindow;
        for (int p = first; p < first + tokens; p++)
            Residency.AddPosition(p);
        Array.Clear(_selecting);
        if (Decoding)
        {
            _lastStepReads = 0;
            _lastStepPages = 0;
            _lastStepScoredPages = 0;
        }
    }

    /// <summary>The forward call ended (every layer ran): the policy acts and evicted positions leave the cache.</summary>
    public void EndForward()
    {
        int last = _first + _tokens - 1;
        for (int l = 0; l < _g.Layers; l++)
        {
            for (int h = 0; h < _g.KvHeads; h++)
            {
                int i = Index(l, h);
                if (!_prefillEnded)
                {
                    int n = Residency.Length;
                    Policy.OnPrefillEnd(l, h, n, _columnSums[i].AsSpan(0, _columnSums[i].Length == 0 ? 0 : n),
                        _windowVotes[i].AsSpan(0, _windowVotes[i].Length == 0 ? 0 : n), Residency);
                }
                else if (_tokens == 1 && _quest is not null)
                {
                    // Quest keeps everything and ignores the step (no weights, no eviction): skip listing every resident position.
                }
                else if (_tokens == 1)
                {
                    var reads = _reads[i];
                    if (!_selecting[i])
                    {
                        // Every resident position of the head was read (and weighted) this step.
                        reads.Clear();
                        Residency.CopyTo(l, h, reads);
                    }
                    var w = _weights[i];
                    Policy.OnDecodeStep(l, h, last, CollectionsMarshal.AsSpan(reads), w.AsSpan(0, Math.Min(w.Length, reads.Count)), Residency);
                }
                else
                {
                    Policy.OnDecodeStep(l, h, last, [], [], Residency);
                }
            }
            Compact(l);
        }
        _prefillEnded = true;
        Array.Clear(_selecting);
    }

    /// <summary>The cache holds positions [0, <paramref name="positions"/>) written outside a forward call (a restored prompt cache, a synthetic fill): they count as the prefill.</summary>
    public void Restored(int positions)
    {
        if (positions == 0)
        {
            Reset();
            return;
        }
        if (positions < Residency.Length)
        {
            if (Evicted)
                throw new InvalidOperationException("the KV policy evicted positions; the sequence cannot be rewound");
            Residency.TruncateFrom(positions);
        }
        for (int p = Residency.Length; p < positions; p++)
            Residency.AddPosition(p);
        if (!_prefillEnded && positions > 0)
        {
            if (Policy.NeedsPrefillColumnSums || Policy.ObservationWindow > 0)
                throw new InvalidOperationException($"KV policy '{Policy.Name}' needs the prefill's attention scores; a restored cache cannot provide them");
            _first = 0;
            _tokens = positions;
            EndForward();
        }
    }

    /// <summary>Forgets everything (the session was reset).</summary>
    public void Reset()
    {
        Residency.Clear();
        Policy.Begin(_g);
        foreach (var a in _columnSums)
            Array.Clear(a);
        foreach (var a in _windowVotes)
            Array.Clear(a);
        Array.Clear(_masking);
        Array.Clear(_selecting);
        _prefillEnded = false;
        Evicted = false;
        EvictedSlots = 0;
        Array.Clear(_deadSlots);
    }

    public ReadOnlySpan<float> Key(int layer, int kvHead, int position)
    {
        int slot = _seq.Positions(layer).BinarySearch(position);
        if (slot < 0)
            throw new InvalidOperationException($"position {position} of layer {layer} is not in the cache");
        _seq.ReadKey(layer, slot, kvHead, _key);
        return _key;
    }

    public int SelectPages(KvSequence sequence, int layer, int kvHead, ReadOnlySpan<float> queries, Span<int> pages)
    {
        if (!Decoding)
            return -1;
        int i = Index(layer, kvHead), slots = sequence.SlotCount(layer), ps = sequence.PageSize;
        if (_quest is not null)
        {
            int n = _quest.SelectPages(sequence, layer, kvHead, queries, pages);
            if (n >= 0)
            {
                long rows = 0;
                for (int k = 0; k < n; k++)
                    rows += sequence.PageRows(layer, pages[k]);
                Interlocked.Add(ref _lastStepScoredPages, sequence.PageCount(layer));
                Interlocked.Add(ref _lastStepPages, n);
                Interlocked.Add(ref _lastStepReads, rows);
                return n;
            }
            Interlocked.Add(ref _lastStepPages, sequence.PageCount(layer));
            Interlocked.Add(ref _lastStepReads, slots);
            return -1;
        }

        var reads = _reads[i];
        reads.Clear();
        Policy.SelectReads(layer, kvHead, _first, queries, this, Residency, reads);
        Interlocked.Add(ref _lastStepReads, reads.Count);
        // Reads are resident positions, so as many as the head keeps are all of them: the residency mask (or none) already
        // says which slots those are, and no selection mask need be built (window's and H2O's every step).
        if (reads.Count == slots || reads.Count == Residency.Count(layer, kvHead))
        {
            Interlocked.Add(ref _lastStepPages, sequence.PageCount(layer));
            return -1;
        }
        // Map the positions to slots (both ascending), mask the rest, list the pages touched.
        var positions = sequence.Positions(layer);
        var mask = _selectMask[i] ??= new byte[sequence.Capacity];
        if (_readSlots[i].Length < reads.Count)
            _readSlots[i] = new int[Math.Max(reads.Count, 2 * _readSlots[i].Length)];
        var slotOf = _readSlots[i];
        Array.Clear(mask, 0, slots);
        int count = 0, slot = 0;
        for (int r = 0; r < reads.Count; r++)
        {
            // Positions are distinct and ascending, so the read's slot is at most as far past this one as its position is:
            // exactly there when nothing between was evicted, else found by bisection up to there (a strided read skips
            // dozens of slots, which a walk would visit).
            if (slot < slots && positions[slot] < reads[r])
            {
                int hi = (int)Math.Min(slot + (long)reads[r] - positions[slot], slots - 1);
                if (positions[hi] == reads[r])
                    slot = hi;
                else
                {
                    int at = positions[slot..(hi + 1)].BinarySearch(reads[r]);
                    slot += at >= 0 ? at : ~at;
                }
            }
            if (slot == slots || positions[slot] != reads[r])
                throw new InvalidOperationException($"KV policy '{Policy.Name}' selected position {reads[r]}, which layer {layer} does not hold");
            mask[slot] = 1;
            slotOf[r] = slot;
            int page = slot / ps;
            if (count == 0 || pages[count - 1] != page)
                pages[count++] = page;
        }
        _selecting[i] = true;
        _selectLength[i] = slots;
        Interlocked.Add(ref _lastStepPages, count);
        return count;
    }

    public bool WantsScores(int layer, int position) =>
        Decoding ? Policy.NeedsDecodeWeights
            : !_prefillEnded && (Policy.NeedsPrefillColumnSums || (Policy.ObservationWindow > 0 && position >= _voteFrom));

    public void OnScores(int layer, int kvHead, int position, ReadOnlySpan<float> weights)
    {
        int i = Index(layer, kvHead);
        var slotPositions = _seq.Positions(layer);
        if (Decoding)
        {
            var reads = _reads[i];
            int n = _selecting[i] ? reads.Count : weights.Length;
            if (_weights[i].Length < n)
                _weights[i] = new float[Math.Max(n, 2 * _weights[i].Length)];
            var w = _weights[i];
            if (_selecting[i])
            {
                var slotOf = _readSlots[i];
                for (int r = 0; r < n; r++)
                    w[r] = weights[slotOf[r]];
            }
            else
            {
                // Reads are the head's resident positions in slot order (masked slots excluded).
                var mask = _masking[i] ? _residentMask[i].AsSpan(0, _maskLength[i]) : default;
                int r = 0;
                for (int s = 0; s < weights.Length; s++)
                {
                    if (s >= mask.Length || mask[s] != 0)
                        w[r++] = weights[s];
                }
            }
            return;
        }
        // Prefill: accumulate by position; several threads may report the same head.
        lock (_columnSums[i])
        {
            var sums = _columnSums[i];
            var votes = _windowVotes[i];
            bool vote = votes.Length > 0 && position >= _voteFrom;
            for (int s = 0; s < weights.Length; s++)
            {
                float x = weights[s];
                if (x == 0f)
                    continue;
                int p = slotPositions[s];
                if (sums.Length > 0)
                    sums[p] += x;
                if (vote)
                    votes[p] += x;
            }
        }
    }

    public ReadOnlySpan<byte> SlotMask(int layer, int kvHead)
    {
        int i = Index(layer, kvHead);
        if (_selecting[i])
            return _selectMask[i].AsSpan(0, _selectLength[i]);
        return _masking[i] ? _residentMask[i].AsSpan(0, _maskLength[i]) : default;
    }

    // Drops the slots no head of the layer keeps and masks, per head, the slots other heads still keep.
    private void Compact(int layer)
    {
        int slots = _seq.SlotCount(layer);
        bool all = true;
        for (int h = 0; h < _g.KvHeads && all; h++)
            all = Residency.Count(layer, h) == slots;
        if (all)
        {
            for (int h = 0; h < _g.KvHeads; h++)
                _masking[Index(layer, h)] = false;
            return;
        }
        var positions = _seq.Positions(layer);
        var keep = new List<int>(slots);
        for (int s = 0; s < slots; s++)
        {
            int p = positions[s];
            for (int h = 0; h < _g.KvHeads; h++)
            {
                if (Residency.Contains(layer, h, p))
                {
                    keep.Add(s);
                    break;
                }
            }
        }
        int dead = slots - keep.Count, kept = slots;
        if (dead > 0)
        {
            EvictedSlots += dead - _deadSlots[layer];
            Evicted = true;
            // A decode step evicts a position or so per head: compacting then would move every younger row of the layer
            // (a window's whole budget, each step). The dead slots are masked for every head instead, and dropped
            // together once they fill a page (or the cache has no room for the next position), so the layer holds less than
            // a page more than its heads keep.
            if (!Decoding || CompactEveryStep || dead >= _seq.PageSize || slots >= _seq.Capacity)
            {
                _seq.Retain(layer, CollectionsMarshal.AsSpan(keep));
                _deadSlots[layer] = 0;
                kept = keep.Count;
            }
            else
            {
                _seq.MarkEvicted(layer);
                _deadSlots[layer] = dead;
            }
        }
        positions = _seq.Positions(layer);
        for (int h = 0; h < _g.KvHeads; h++)
        {
            int i = Index(layer, h);
            if (Residency.Count(layer, h) == kept)
            {
                _masking[i] = false;
                continue;
            }
            var mask = _residentMask[i] ??= new byte[_seq.Capacity];
            for (int s = 0; s < kept; s++)
                mask[s] = Residency.Contains(layer, h, positions[s]) ? (byte)1 : (byte)0;
            _maskLength[i] = kept;
            _masking[i] = true;
        }
    }

    private int Index(int layer, int kvHead) => layer * _g.KvHeads + kvHead;
}
