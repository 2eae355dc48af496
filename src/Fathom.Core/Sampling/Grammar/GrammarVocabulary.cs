using System.Runtime.CompilerServices;
using Fathom.Tokenization;

namespace Fathom.Sampling;

/// <summary>
/// A vocabulary prepared for grammar masking, once per tokenizer: every token's bytes in a trie laid out in
/// preorder (so a mask is one linear walk that skips whole subtrees the grammar rejects), plus the
/// end-of-generation ids. Tokens with no bytes (control tokens) are never allowed except the end-of-generation
/// ones, which are allowed exactly when the grammar is complete. Immutable and thread-safe.
/// </summary>
public sealed class GrammarVocabulary
{
    private static readonly ConditionalWeakTable<ITokenizer, GrammarVocabulary> Cache = [];

    /// <summary>Builds from each token's bytes (index = token id) and the ids that end generation.</summary>
    public GrammarVocabulary(IReadOnlyList<byte[]> pieces, IEnumerable<int> endOfGeneration)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(endOfGeneration);
        Count = pieces.Count;
        Pieces = new byte[Count][];
        for (int i = 0; i < Count; i++)
            Pieces[i] = pieces[i] ?? [];
        var eog = new SortedSet<int>();
        foreach (int id in endOfGeneration)
        {
            if ((uint)id >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(endOfGeneration), $"end-of-generation id {id} is outside the vocabulary of {Count}");
            eog.Add(id);
        }
        EndOfGeneration = [.. eog];
        IsEog = new bool[Count];
        foreach (int id in EndOfGeneration)
            IsEog[id] = true;
        BuildTrie();
    }

    /// <summary>Number of token ids covered (masks set every id at or beyond it to −∞).</summary>
    public int Count { get; }

    internal byte[][] Pieces { get; }
    internal int[] EndOfGeneration { get; }
    internal bool[] IsEog { get; }

    // Trie in preorder: node i consumes NodeByte[i] at depth NodeDepth[i] (1-based); NodeSkip[i] is the index after
    // its subtree; tokens ending at node i are TrieTokens[NodeTokens[i]..NodeTokens[i + 1]).
    internal byte[] NodeByte { get; private set; } = [];
    internal int[] NodeDepth { get; private set; } = [];
    internal int[] NodeSkip { get; private set; } = [];
    internal int[] NodeTokens { get; private set; } = [];
    internal int[] TrieTokens { get; private set; } = [];
    internal int MaxDepth { get; private set; }

    // Per node, over its subtree: the ASCII bytes used (bits of bytes 0–63 and 64–127) and the most bytes from its
    // parent to a node below it (int.MaxValue when a byte ≥ 0x80 occurs), so a mask can accept a whole subtree at once.
    internal ulong[] SubtreeLow { get; private set; } = [];
    internal ulong[] SubtreeHigh { get; private set; } = [];
    internal int[] SubtreeHeight { get; private set; } = [];
    internal int NodeCount => NodeByte.Length;

    /// <summary>The vocabulary of a tokenizer, built once per tokenizer instance and shared.</summary>
    public static GrammarVocabulary For(ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Cache.GetValue(tokenizer, Create);
    }

    private static GrammarVocabulary Create(ITokenizer tokenizer)
    {
        int n = tokenizer.VocabularySize;
        var pieces = new byte[n][];
        var eog = new HashSet<int>(tokenizer.EndOfGeneration);
        for (int i = 0; i < n; i++)
        {
            // control tokens render as nothing, so they can never be part of constrained text
            pieces[i] = eog.Contains(i) ? [] : tokenizer.TokenToPiece(i, renderSpecial: false);
        }
        return new GrammarVocabulary(pieces, eog.Where(id => (uint)id < (uint)n));
    }

    private void BuildTrie()
    {
        var ids = new List<int>(Count);
        for (int i = 0; i < Count; i++)
            if (Pieces[i].Length > 0 && !IsEog[i])
                ids.Add(i);
        var byPiece = ids.ToArray();
        Array.Sort(byPiece, (a, b) =>
        {
            int c = Pieces[a].AsSpan().SequenceCompareTo(Pieces[b]);
            return c != 0 ? c : a.CompareTo(b);
        });

        var nodeByte = new List<byte>();
        var nodeDepth = new List<int>();
        var nodeSkip = new List<int>();
        var nodeTokens = new List<int>();
        var path = new List<int>();
        byte[] previous = [];
        foreach (int id in byPiece)
        {
            byte[] p = Pieces[id];
            int common = p.AsSpan().CommonPrefixLength(previous);
            while (path.Count > common)
            {
                nodeSkip[path[^1]] = nodeByte.Count;
                path.RemoveAt(path.Count - 1);
            }
            for (int d = common; d < p.Length; d++)
            {
                path.Add(nodeByte.Count);
                nodeByte.Add(p[d]);
                nodeDepth.Add(d + 1);
                nodeSkip.Add(0);
                nodeTokens.Add(-1);
            }
            int node = path[^1];
            if (nodeTokens[node] < 0)
                nodeTokens[node] = id;
            previous = p;
            MaxDepth = Math.Max(MaxDepth, p.Length);
        }
        foreach (int node in path)
            nodeSkip[node] = nodeByte.Count;

        // tokens in preorder node order, so each node's tokens are one contiguous run
        int count = nodeByte.Count;
        var start = new int[count + 1];
        var tokens = new List<int>(byPiece.Length);
        int k = 0;
        for (int node = 0; node < count; node++)
        {
            start[node] = tokens.Count;
            if (nodeTokens[node] < 0)
                continue;
            while (k < byPiece.Length && Pieces[byPiece[k]].AsSpan().SequenceEqual(Pieces[nodeTokens[node]]))
                tokens.Add(byPiece[k++]);
        }
        start[count] = tokens.Count;
        NodeByte = [.. nodeByte];
        NodeDepth = [.. nodeDepth];
        NodeSkip = [.. nodeSkip];
        NodeTokens = start;
        TrieTokens = [.. tokens];
        Summarize();
    }

    private void Summarize()
    {
        int count = NodeByte.Length;
        var low = new ulong[count];
        var high = new ulong[count];
        var height = new int[count];
        for (int i = count - 1; i >= 0; i--)
        {
            byte b = NodeByte[i];
            ulong lo = b < 64 ? 1UL << b : 0, hi = b is >= 64 and < 128 ? 1UL << (b - 64) : 0;
            int h = b < 128 ? 1 : int.MaxValue;
            for (int c = i + 1; c < NodeSkip[i]; c = NodeSkip[c])
            {
                lo |= low[c];
                hi |= high[c];
                h = height[c] == int.MaxValue || h == int.MaxValue ? int.MaxValue : Math.Max(h, height[c] + 1);
            }
            low[i] = lo;
            high[i] = hi;
            height[i] = h;
        }
        SubtreeLow = low;
        SubtreeHigh = high;
        SubtreeHeight = height;
    }
}
