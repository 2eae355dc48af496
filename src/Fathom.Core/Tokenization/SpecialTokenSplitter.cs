namespace Fathom.Tokenization;

/// <summary>
/// Cuts special-token text out of the input before the tokenizer model runs, with llama.cpp's semantics
/// (<c>tokenizer_st_partition</c>): special tokens are taken longest text first, each one at its leftmost
/// non-overlapping occurrences inside the text not yet claimed, honouring lstrip/rstrip. All occurrences are
/// found in one trie pass and then claimed in that order, so the cost is linear in the text, not in the
/// number of special tokens.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly Vocabulary _vocab;
    private readonly int[] _tokens;           // by priority
    private readonly List<Dictionary<byte, int>> _children = [];
    private readonly List<int> _terminal = []; // priority of the token ending at a node, or -1
    private readonly int[] _root = new int[256]; // child of the root per byte, 0 for none
    private (byte[] Keys, int[] Next)[] _nodes = [];

    public SpecialTokenSplitter(Vocabulary vocab, bool parseSpecial)
    {
        _vocab = vocab;
        // without special parsing only user-defined tokens are matched (control and unknown text stays text)
        _tokens = parseSpecial
            ? vocab.SpecialTokens
            : [.. vocab.SpecialTokens.Where(id => (vocab.Attrs[id] & (TokenAttr.Control | TokenAttr.Unknown)) == 0)];
        NewNode();
        for (int p = 0; p < _tokens.Length; p++)
        {
            byte[] text = vocab.Bytes[_tokens[p]];
            int node = 0;
            foreach (byte b in text)
            {
                if (!_children[node].TryGetValue(b, out int next))
                {
                    next = NewNode();
                    _children[node][b] = next;
                }
                node = next;
            }
            if (_terminal[node] < 0)
                _terminal[node] = p;
        }
        // freeze into arrays: a dense table at the root, short key lists below (most nodes have one child)
        _nodes = new (byte[], int[])[_children.Count];
        for (int i = 0; i < _children.Count; i++)
            _nodes[i] = ([.. _children[i].Keys], [.. _children[i].Values]);
        foreach (var (b, child) in _children[0])
            _root[b] = child;
        _children.Clear();
    }

    private int Child(int node, byte b)
    {
        var (keys, next) = _nodes[node];
        int k = Array.IndexOf(keys, b);
        return k < 0 ? 0 : next[k];
    }

    public bool IsEmpty => _tokens.Length == 0;

    private int NewNode()
    {
        _children.Add([]);
        _terminal.Add(-1);
        return _children.Count - 1;
    }

    /// <summary>A piece of the input: a special token, or a byte range of raw text.</summary>
    public readonly record struct Fragment(int Token, int Start, int Length)
    {
        public bool IsToken => Token >= 0;
    }

    public void Split(ReadOnlySpan<byte> text, List<Fragment> fragments)
    {
        fragments.Clear();
        if (text.IsEmpty)
            return;
        if (_tokens.Length == 0)
        {
            fragments.Add(new Fragment(-1, 0, text.Length));
            return;
        }

        // (priority, start) packed so sorting orders by priority, then leftmost
        var found = new List<long>();
        for (int i = 0; i < text.Length; i++)
        {
            int node = _root[text[i]];
            for (int j = i + 1; node != 0; j++)
            {
                if (_terminal[node] >= 0)
                    found.Add(((long)_terminal[node] << 32) | (uint)i);
                if (j >= text.Length)
                    break;
                node = Child(node, text[j]);
            }
        }
        if (found.Count == 0)
        {
            fragments.Add(new Fragment(-1, 0, text.Length));
            return;
        }
        // bucket by priority; within a priority the starts are already ascending (the scan went left to right)
        var counts = new int[_tokens.Length + 1];
        foreach (long packed in found)
            counts[(int)(packed >> 32) + 1]++;
        for (int p = 1; p < counts.Length; p++)
            counts[p] += counts[p - 1];
        var ordered = new long[found.Count];
        foreach (long packed in found)
            ordered[counts[(int)(packed >> 32)]++] = packed;

        // 0 = free text, 1 = removed (stripped whitespace or inside a token), 2 = token start
        var state = new byte[text.Length];
        var tokenAt = new int[text.Length];
        foreach (long packed in ordered)
        {
            int priority = (int)(packed >> 32);
            int start = (int)(uint)packed;
            int id = _tokens[priority];
            int end = start + _vocab.Bytes[id].Length;
            if (state[start] != 0 || state[end - 1] != 0 || state.AsSpan(start, end - start).ContainsAnyExcept((byte)0))
                continue;
            state.AsSpan(start, end - start).Fill(1);
            state[start] = 2;
            tokenAt[start] = id;
            var attr = _vocab.Attrs[id];
            if ((attr & TokenAttr.LStrip) != 0)
                for (int k = start - 1; k >= 0 && state[k] == 0 && IsCSpace(text[k]); k--)
                    state[k] = 1;
            if ((attr & TokenAttr.RStrip) != 0)
                for (int k = end; k < text.Length && state[k] == 0 && IsCSpace(text[k]); k++)
                    state[k] = 1;
        }

        int runStart = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            byte s = i < text.Length ? state[i] : (byte)1;
            if (s == 0)
            {
                if (runStart < 0)
                    runStart = i;
                continue;
            }
            if (runStart >= 0)
            {
                fragments.Add(new Fragment(-1, runStart, i - runStart));
                runStart = -1;
            }
            if (s == 2)
                fragments.Add(new Fragment(tokenAt[i], i, _vocab.Bytes[tokenAt[i]].Length));
        }
    }

    private static bool IsCSpace(byte b) => b is (byte)' ' or (>= 9 and <= 13);
}
