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
        int[] walk = _walk;
        walk[0] = state;
        int count = nodeByte.Length;
        for (int i = 0; i < count;)
        {
            int d = nodeDepth[i];
            int next = _matcher.Advance(walk[d - 1], nodeByte[i]);
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
}
