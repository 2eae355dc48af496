using System.Numerics;
using Fathom.Tokenization;

namespace Fathom.Sampling;

/// <summary>
/// Where one sequence stands in a <see cref="Grammar"/>: <see cref="Mask"/> sets the logit of every token that
/// cannot continue a match to −∞, <see cref="Accept"/> moves past the chosen token. Tokens are matched byte by byte,
/// so a token may span several characters or end inside one. End-of-generation tokens are allowed exactly when
/// <see cref="IsComplete"/>; since every rule of a grammar can finish, a sequence that follows the mask never
/// dead-ends. Masks are cached per grammar state. One instance per sequence; not thread-safe.
/// </summary>
public sealed class GrammarConstraint
{
    private const int MaxCachedMasks = 64;
    private readonly GrammarMatcher _matcher;
    private readonly Dictionary<int, ulong[]> _masks = [];
    private int[] _walk;

    // Per state id, built lazily: the ASCII bytes that all lead to one next state (the largest such group), that
    // state, and how many steps of such bytes stay alive from here (+1; 0 = not computed). A trie subtree of only
    // those bytes, no deeper than the run, is allowed whole without walking it.
    private ulong[] _uniformLow = new ulong[64];
    private ulong[] _uniformHigh = new ulong[64];
    private int[] _uniformNext = new int[64];
    private int[] _run = new int[64];
    private readonly List<int> _chain = [];
    private int _state;
    private int _generation;

    public GrammarConstraint(Grammar grammar, GrammarVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        Grammar = grammar;
        Vocabulary = vocabulary;
        _matcher = new GrammarMatcher(grammar.Program);
        _walk = new int[vocabulary.MaxDepth + 1];
        _state = _matcher.Start;
        Array.Fill(_uniformNext, GrammarMatcher.Unknown);
    }

    /// <summary>A constraint over <paramref name="tokenizer"/>'s vocabulary (prepared once per tokenizer and shared).</summary>
    public GrammarConstraint(Grammar grammar, ITokenizer tokenizer) : this(grammar, GrammarVocabulary.For(tokenizer))
    {
    }

    public Grammar Grammar { get; }
    public GrammarVocabulary Vocabulary { get; }

    /// <summary>The text so far is a complete match: end-of-generation tokens are allowed.</summary>
    public bool IsComplete => !IsEnded && _matcher.IsAccepting(_state);

    /// <summary>More text can follow (false once complete with nothing allowed after it, or once ended).</summary>
    public bool CanContinue => !IsEnded && _matcher.CanContinue(_state);

    /// <summary>An end-of-generation token has been accepted; nothing more is allowed.</summary>
    public bool IsEnded { get; private set; }

    /// <summary>Back to the start of the grammar.</summary>
    public void Reset()
    {
        _state = _matcher.Start;
        IsEnded = false;
    }

    /// <summary>Sets every disallowed token's logit to −∞ (ids at or beyond the vocabulary included).</summary>
    public void Mask(Span<float> logits)
    {
        int n = Math.Min(logits.Length, Vocabulary.Count);
        logits[n..].Fill(float.NegativeInfinity);
        if (IsEnded)
        {
            logits.Fill(float.NegativeInfinity);
            return;
        }
        var bits = AllowedBits();
        for (int w = 0; w * 64 < n; w++)
        {
            ulong word = bits[w];
            if (word == ulong.MaxValue)
                continue;
            int baseId = w * 64;
            int end = Math.Min(64, n - baseId);
            ulong banned = ~word;
            while (banned != 0)
            {
                int b = BitOperations.TrailingZeroCount(banned);
                if (b >= end)
                    break;
                logits[baseId + b] = float.NegativeInfinity;
                banned &= banned - 1;
            }
        }
    }

    /// <summary>Whether <paramref name="token"/> may come next.</summary>
    public bool IsAllowed(int token)
    {
        if (IsEnded || (uint)token >= (uint)Vocabulary.Count)
            return false;
        if (Vocabulary.IsEog[token])
            return _matcher.IsAccepting(_state);
        var piece = Vocabulary.Pieces[token];
        return piece.Length > 0 && Walk(_state, piece) >= 0;
    }

    /// <summary>Moves past <paramref name="token"/>; a token the grammar does not allow here is a <see cref="SamplingException"/>.</summary>
    public void Accept(int token)
    {
        if (!IsAllowed(token))
            throw new SamplingException(IsEnded
                ? $"token {token} follows the end of a grammar-constrained sequence"
                : $"token {token} is not allowed by the grammar here");
        if (Vocabulary.IsEog[token])
        {
            IsEnded = true;
            return;
        }
        _state = _matcher.Compact(Walk(_state, Vocabulary.Pieces[token]));
    }

    /// <summary>Moves past text that is already part of the output (e.g. a forced prefix); false (and no change) when the grammar rejects it.</summary>
    public bool TryAcceptText(ReadOnlySpan<byte> utf8)
    {
        if (IsEnded)
            return false;
        int s = Walk(_state, utf8);
        if (s < 0)
            return false;
        _state = _matcher.Compact(s);
        return true;
    }

    /// <summary>Fewest bytes that would complete the match from here (0 when complete).</summary>
    internal int MinBytesToComplete => _matcher.MinBytesToComplete(_state);

    /// <summary>Fewest bytes to complete after <paramref name="token"/>, or -1 when it is not allowed.</summary>
    internal int MinBytesToCompleteAfter(int token)
    {
        if (!IsAllowed(token))
            return -1;
        if (Vocabulary.IsEog[token])
            return 0;
        return _matcher.MinBytesToComplete(Walk(_state, Vocabulary.Pieces[token]));
    }

    private int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            state = _matcher.Advance(state, b);
            if (state < 0)
                return GrammarMatcher.Dead;
        }
        return state;
    }

    /// <summary>One bit per token id: allowed in the current state. Cached per state.</summary>
    internal ulong[] AllowedBits()
    {
        if (_generation != _matcher.Generation)
        {
            _masks.Clear();
            Array.Clear(_run);
            Array.Fill(_uniformNext, GrammarMatcher.Unknown);
            _generation = _matcher.Generation;
        }
        if (_masks.TryGetValue(_state, out var cached))
            return cached;
        if (_masks.Count >= MaxCachedMasks)
            _masks.Clear();
        var bits = new ulong[(Vocabulary.Count + 63) / 64];
        Fill(bits, _state);
        // the walk may have grown the tables past their bound; the state id stays valid until the next Accept
        _masks[_state] = bits;
        return bits;
    }

    private void Fill(ulong[] bits, int state)
    {
        var v = Vocabulary;
        byte[] nodeByte = v.NodeByte;
        int[] nodeDepth = v.NodeDepth, nodeSkip = v.NodeSkip, nodeTokens = v.NodeTokens, trieTokens = v.TrieTokens;
        int[] height = v.SubtreeHeight;
        ulong[] low = v.SubtreeLow, high = v.SubtreeHigh;
        int[] walk = _walk;
        byte[] byteClass = Grammar.Program.ByteClass;
        int classes = Grammar.Program.ClassCount;
        int[] trans = _matcher.Transitions;
        int[] runs = _run;
        walk[0] = state;
        int count = nodeByte.Length;
        for (int i = 0; i < count;)
        {
            int d = nodeDepth[i];
            int from = walk[d - 1];
            if ((uint)from >= (uint)runs.Length || runs[from] == 0)
            {
                RunOf(from);
                runs = _run;
                trans = _matcher.Transitions;
            }
            if (height[i] < runs[from] && (low[i] & ~_uniformLow[from]) == 0 && (high[i] & ~_uniformHigh[from]) == 0)
            {
                int skip = nodeSkip[i];
                for (int k = nodeTokens[i], end = nodeTokens[skip]; k < end; k++)
                {
                    int id = trieTokens[k];
                    bits[id >> 6] |= 1UL << (id & 63);
                }
                i = skip;
                continue;
            }
            int cls = byteClass[nodeByte[i]];
            int next = trans[from * classes + cls];
            if (next == GrammarMatcher.Unknown)
            {
                next = _matcher.Compute(from, cls);
                trans = _matcher.Transitions;
            }
            if (next < 0)
            {
                i = nodeSkip[i];
                continue;
            }
            walk[d] = next;
            for (int k = nodeTokens[i], end = nodeTokens[i + 1]; k < end; k++)
            {
                int id = trieTokens[k];
                bits[id >> 6] |= 1UL << (id & 63);
            }
            i++;
        }
        if (_matcher.IsAccepting(state))
            foreach (int id in v.EndOfGeneration)
                bits[id >> 6] |= 1UL << (id & 63);
    }

    private const int Forever = int.MaxValue - 1;

    /// <summary>
    /// Fewest steps of <paramref name="state"/>'s uniform bytes that are sure to stay alive: following the uniform
    /// next states while each one's uniform bytes include the previous one's (a self-loop is forever), up to the
    /// longest token.
    /// </summary>
    private int RunOf(int state)
    {
        Grow(state);
        if (_run[state] != 0)
            return _run[state] - 1;
        _chain.Clear();
        int cur = state;
        int tail;
        while (true)
        {
            Uniform(cur);
            _chain.Add(cur);
            int n = _uniformNext[cur];
            if (n < 0)
            {
                tail = 0;
                break;
            }
            if (n == cur)
            {
                tail = Forever;
                break;
            }
            Grow(n);
            Uniform(n);
            if ((_uniformLow[cur] & ~_uniformLow[n]) != 0 || (_uniformHigh[cur] & ~_uniformHigh[n]) != 0)
            {
                tail = 1;
                break;
            }
            if (_run[n] != 0)
            {
                tail = Math.Min(Forever, _run[n]);
                break;
            }
            if (_chain.Count > Vocabulary.MaxDepth)
            {
                tail = 1;
                break;
            }
            cur = n;
        }
        // tail is the run of the chain's last state; each earlier one adds its own step
        int run = tail;
        for (int j = _chain.Count - 1; j >= 0; j--)
        {
            if (j < _chain.Count - 1)
                run = run == Forever ? Forever : run + 1;
            _run[_chain[j]] = run + 1;
        }
        return _run[state] - 1;
    }

    /// <summary>Groups the ASCII bytes by the state each leads to and keeps the largest group as the uniform one.</summary>
    private void Uniform(int state)
    {
        if (_uniformNext[state] != GrammarMatcher.Unknown)
            return;
        Span<int> next = stackalloc int[128];
        for (int b = 0; b < 128; b++)
            next[b] = _matcher.Advance(state, (byte)b);
        Span<int> sorted = stackalloc int[128];
        next.CopyTo(sorted);
        sorted.Sort();
        int best = GrammarMatcher.Dead, bestCount = 0;
        for (int i = 0; i < 128;)
        {
            int j = i;
            while (j < 128 && sorted[j] == sorted[i])
                j++;
            if (sorted[i] >= 0 && j - i > bestCount)
            {
                best = sorted[i];
                bestCount = j - i;
            }
            i = j;
        }
        ulong lo = 0, hi = 0;
        if (best >= 0)
        {
            for (int b = 0; b < 64; b++)
                lo |= next[b] == best ? 1UL << b : 0;
            for (int b = 64; b < 128; b++)
                hi |= next[b] == best ? 1UL << (b - 64) : 0;
        }
        Grow(Math.Max(state, best));
        _uniformLow[state] = lo;
        _uniformHigh[state] = hi;
        _uniformNext[state] = best;
    }

    private void Grow(int state)
    {
        if (state < _run.Length)
            return;
        int old = _run.Length;
        int size = Math.Max(old * 2, state + 1);
        Array.Resize(ref _run, size);
        Array.Resize(ref _uniformLow, size);
        Array.Resize(ref _uniformHigh, size);
        Array.Resize(ref _uniformNext, size);
        Array.Fill(_uniformNext, GrammarMatcher.Unknown, old, size - old);
    }
}
