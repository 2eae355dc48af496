namespace Fathom.Tokenization;

/// <summary>
/// SentencePiece BPE as llama.cpp runs it: start from UTF-8 characters, repeatedly merge the adjacent pair whose
/// concatenation is the highest-scoring token (ties: leftmost), via a priority queue over a linked list of symbols;
/// symbols that are not tokens fall back to byte tokens &lt;0xNN&gt;.
/// </summary>
internal sealed class SentencePieceBpe
{
    internal struct Symbol
    {
        public int Start;
        public int Length;
        public int Prev;
        public int Next;
    }

    internal readonly struct Bigram(float score, int left, int right, int size) : IComparable<Bigram>
    {
        public readonly float Score = score;
        public readonly int Left = left;
        public readonly int Right = right;
        public readonly int Size = size;

        // highest score first, then leftmost
        public int CompareTo(Bigram other) => Score != other.Score ? other.Score.CompareTo(Score) : Left.CompareTo(other.Left);
    }

    private const int MaxCachedBytes = 64;
    private const int MaxCacheEntries = 1 << 16;

    private readonly Vocabulary _vocab;
    private readonly int[] _byteTokens;

    public SentencePieceBpe(Vocabulary vocabulary)
    {
        _vocab = vocabulary;
        _byteTokens = BuildByteTokens(vocabulary);
        _pairs = BuildPairs(vocabulary);
        for (uint a = 0; a < 128; a++)
            for (uint b = 0; b < 128; b++)
                _asciiPairs[(a << 7) | b] = _pairs.Contains(((ulong)a << 32) | b);
    }

    // Adjacent character pairs that occur inside some token. Between two characters that never do, no merge
    // can ever happen, so the text is merged piece by piece with the same result, and repeated pieces are cached.
    private readonly bool[] _asciiPairs = new bool[128 * 128];
    private readonly HashSet<ulong> _pairs;

    private static HashSet<ulong> BuildPairs(Vocabulary vocab)
    {
        var pairs = new HashSet<ulong>(PairComparer.Instance);
        foreach (byte[] token in vocab.Bytes)
        {
            uint prev = 0;
            for (int i = 0; i < token.Length;)
            {
                int len = Math.Min(Unicode.Utf8Length(token[i]), token.Length - i);
                uint cur = Pack(token.AsSpan(i, len));
                if (i > 0)
                    pairs.Add(((ulong)prev << 32) | cur);
                prev = cur;
                i += len;
            }
        }
        return pairs;
    }

    private static uint Pack(ReadOnlySpan<byte> ch)
    {
        uint v = 0;
        foreach (byte b in ch)
            v = (v << 8) | b;
        return v;
    }

    private sealed class PairComparer : IEqualityComparer<ulong>
    {
        public static readonly PairComparer Instance = new();

        public bool Equals(ulong x, ulong y) => x == y;

        public int GetHashCode(ulong key)
        {
            ulong h = key * 0x9E3779B97F4A7C15UL;
            return (int)(h >> 32) ^ (int)h;
        }
    }

    private bool MayMerge(uint a, uint b)
        => a < 128 && b < 128 ? _asciiPairs[(a << 7) | b] : _pairs.Contains(((ulong)a << 32) | b);


    /// <summary>A session holds the reusable buffers of one thread.</summary>
    internal sealed class Session
    {
        public Symbol[] Symbols = new Symbol[256];
        public readonly MinHeap<Bigram> Heap = new();
        public readonly ByteMap<int[]> Cache = new(1024);
    }

    public void Encode(ReadOnlySpan<byte> text, Session s, List<int> output)
    {
        int start = 0;
        uint prev = 0;
        for (int i = 0; i < text.Length;)
        {
            int len = Math.Min(Unicode.Utf8Length(text[i]), text.Length - i);
            uint cur = len == 1 ? text[i] : Pack(text.Slice(i, len));
            if (i > 0 && !MayMerge(prev, cur))
            {
                EncodeCached(text[start..i], s, output);
                start = i;
            }
            prev = cur;
            i += len;
        }
        EncodeCached(text[start..], s, output);
    }

    private void EncodeCached(ReadOnlySpan<byte> segment, Session s, List<int> output)
    {
        if (segment.Length > MaxCachedBytes)
        {
            EncodeSegment(segment, s, output);
            return;
        }
        if (s.Cache.TryGetValue(segment, out int[]? ids))
        {
            output.AddRange(ids);
            return;
        }
        int before = output.Count;
        EncodeSegment(segment, s, output);
        if (s.Cache.Count >= MaxCacheEntries)
            s.Cache.Clear();
        s.Cache.TryAdd(segment, output.GetRange(before, output.Count - before).ToArray());
    }

    private void EncodeSegment(ReadOnlySpan<byte> text, Session s, List<int> output)
    {
        if (text.IsEmpty)
            return;
        if (s.Symbols.Length < text.Length)
            s.Symbols = new Symbol[Math.Max(text.Length, s.Symbols.Length * 2)];
        var symbols = s.Symbols;
        int n = 0;
        for (int offs = 0; offs < text.Length;)
        {
            int len = Math.Min(Unicode.Utf8Length(text[offs]), text.Length - offs);
            symbols[n] = new Symbol { Start = offs, Length = len, Prev = n - 1, Next = offs + len == text.Length ? -1 : n + 1 };
            offs += len;
            n++;
        }

        var heap = s.Heap;
        heap.Clear();
        for (int i = 1; i < n; i++)
            TryAdd(text, symbols, heap, i - 1, i);

        while (heap.Count > 0)
        {
            var b = heap.Pop();
            ref Symbol left = ref symbols[b.Left];
            ref Symbol right = ref symbols[b.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != b.Size)
                continue;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0)
                symbols[right.Next].Prev = b.Left;
            TryAdd(text, symbols, heap, left.Prev, b.Left);
            TryAdd(text, symbols, heap, b.Left, left.Next);
        }

        for (int i = 0; i != -1; i = symbols[i].Next)
        {
            var sym = symbols[i];
            var piece = text.Slice(sym.Start, sym.Length);
            if (_vocab.TextToId.TryGetValue(piece, out int id))
            {
                output.Add(id);
                continue;
            }
            foreach (byte c in piece)
            {
                int bt = _byteTokens[c];
                if (bt < 0)
                    throw new TokenizerException($"the vocabulary has no byte-fallback token <0x{c:X2}> for a character it cannot spell");
                output.Add(bt);
            }
        }
    }

    private void TryAdd(ReadOnlySpan<byte> text, Symbol[] symbols, MinHeap<Bigram> heap, int left, int right)
    {
        if (left == -1 || right == -1)
            return;
        int start = symbols[left].Start;
        int size = symbols[left].Length + symbols[right].Length;
        if (!_vocab.TextToId.TryGetValue(text.Slice(start, size), out int id))
            return;
        heap.Push(new Bigram(_vocab.Scores[id], left, right, size));
    }

    private static int[] BuildByteTokens(Vocabulary vocab)
    {
        var result = new int[256];
        Span<byte> one = stackalloc byte[1];
        for (int b = 0; b < 256; b++)
        {
            int id = vocab.TokenId($"<0x{b:X2}>");
            if (id == Vocabulary.Null)
            {
                one[0] = (byte)b;
                id = vocab.TextToId.TryGetValue(one, out int single) ? single : -1;
            }
            result[b] = id;
        }
        return result;
    }
}
