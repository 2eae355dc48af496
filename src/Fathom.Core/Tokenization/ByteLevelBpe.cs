namespace Fathom.Tokenization;

/// <summary>
/// GPT-2 byte-level BPE as llama.cpp runs it on each pre-token: bytes are mapped to the 256-character alphabet,
/// adjacent symbols merge by lowest merge rank (ties: leftmost) through a priority queue over a linked list, and
/// the final symbols are looked up as tokens. Works on raw bytes internally: every symbol string the merges can
/// build is interned once, so merging never touches text.
/// </summary>
internal sealed class ByteLevelBpe
{
    private const int MaxCachedWordBytes = 64;
    private const int MaxCacheEntries = 1 << 16;

    private readonly Vocabulary _vocab;
    private readonly ByteMap<int> _rawToToken;
    private readonly int[] _byteIntern = new int[256];
    private readonly int[] _singleByteToken = new int[256];
    private readonly int[] _internToken;
    private readonly Dictionary<long, (int Rank, int Result)> _merges;

    public ByteLevelBpe(Vocabulary vocab)
    {
        _vocab = vocab;
        _rawToToken = new ByteMap<int>(vocab.Count);
        var raw = new byte[vocab.MaxTokenBytes];
        for (int i = 0; i < vocab.Count; i++)
        {
            int n = ByteLevel.TryDecode(vocab.Texts[i], raw);
            if (n >= 0)
                _rawToToken.TryAdd(raw.AsSpan(0, n), i);
        }

        var intern = new ByteMap<int>(vocab.Merges.Length * 2);
        var internToken = new List<int>(vocab.Merges.Length * 2);
        int Intern(ReadOnlySpan<byte> s)
        {
            if (intern.TryGetValue(s, out int id))
                return id;
            id = internToken.Count;
            intern.TryAdd(s, id);
            internToken.Add(_rawToToken.TryGetValue(s, out int t) ? t : -1);
            return id;
        }

        _merges = new Dictionary<long, (int, int)>(vocab.Merges.Length, PairComparer.Instance);
        var both = new byte[2048];
        for (int rank = 0; rank < vocab.Merges.Length; rank++)
        {
            string m = vocab.Merges[rank];
            // split at the first space after the first character, as llama.cpp does (no space: an unusable merge)
            int at = m.Length > 1 ? m.IndexOf(' ', 1) : -1;
            if (at < 0 || m.Length > 2048)
                continue;
            int nl = ByteLevel.TryDecode(m.AsSpan(0, at), both);
            int nr = nl > 0 ? ByteLevel.TryDecode(m.AsSpan(at + 1), both.AsSpan(nl)) : -1;
            if (nl <= 0 || nr <= 0)
                continue; // a merge outside the byte alphabet can never apply to byte-encoded text
            int a = Intern(both.AsSpan(0, nl));
            int b = Intern(both.AsSpan(nl, nr));
            int ab = Intern(both.AsSpan(0, nl + nr));
            _merges.TryAdd(Key(a, b), (rank, ab));
        }

        Span<byte> one = stackalloc byte[1];
        for (int b = 0; b < 256; b++)
        {
            one[0] = (byte)b;
            _byteIntern[b] = intern.TryGetValue(one, out int id) ? id : -1;
            // llama.cpp's last resort looks up single bytes of the encoded word: only printable ASCII can match
            _singleByteToken[b] = ByteLevel.ByteToChar[b] < 0x80 && _rawToToken.TryGetValue(one, out int single) ? single : -1;
        }
        _internToken = [.. internToken];
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>long.GetHashCode folds the halves with XOR, which collides badly for (left, right) id pairs.</summary>
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long key)
        {
            ulong h = (ulong)key * 0x9E3779B97F4A7C15UL;
            return (int)(h >> 32) ^ (int)h;
        }
    }

    internal struct Symbol
    {
        public int Intern;
        public int Start;
        public int Length;
        public int Prev;
        public int Next;
    }

    internal readonly struct Bigram(int rank, int left, int right, int size) : IComparable<Bigram>
    {
        public readonly int Rank = rank;
        public readonly int Left = left;
        public readonly int Right = right;
        public readonly int Size = size;

        public int CompareTo(Bigram other) => Rank != other.Rank ? Rank.CompareTo(other.Rank) : Left.CompareTo(other.Left);
    }

    /// <summary>Reusable buffers and the word cache of one thread.</summary>
    internal sealed class Session
    {
        public Symbol[] Symbols = new Symbol[64];
        public readonly MinHeap<Bigram> Heap = new();
        public readonly ByteMap<int[]> Cache = new(1024);
        public readonly List<int> Scratch = [];
    }

    /// <summary>Token ids of one pre-token given as raw bytes.</summary>
    public void EncodeWord(ReadOnlySpan<byte> word, Session s, List<int> output)
    {
        if (word.IsEmpty)
            return;
        bool cacheable = word.Length <= MaxCachedWordBytes;
        if (cacheable && s.Cache.TryGetValue(word, out int[]? cached))
        {
            output.AddRange(cached);
            return;
        }
        int before = output.Count;
        if (_vocab.IgnoreMerges && _rawToToken.TryGetValue(word, out int whole))
            output.Add(whole);
        else
            Merge(word, s, output);
        if (cacheable)
        {
            if (s.Cache.Count >= MaxCacheEntries)
                s.Cache.Clear();
            s.Cache.TryAdd(word, output.GetRange(before, output.Count - before).ToArray());
        }
    }

    private void Merge(ReadOnlySpan<byte> word, Session s, List<int> output)
    {
        if (s.Symbols.Length < word.Length)
            s.Symbols = new Symbol[Math.Max(word.Length, s.Symbols.Length * 2)];
        var symbols = s.Symbols;
        int n = word.Length;
        for (int i = 0; i < n; i++)
            symbols[i] = new Symbol { Intern = _byteIntern[word[i]], Start = i, Length = 1, Prev = i - 1, Next = i + 1 == n ? -1 : i + 1 };

        var heap = s.Heap;
        heap.Clear();
        for (int i = 1; i < n; i++)
            TryAdd(symbols, heap, i - 1, i);

        while (heap.Count > 0)
        {
            var b = heap.Pop();
            ref Symbol left = ref symbols[b.Left];
            ref Symbol right = ref symbols[b.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != b.Size)
                continue;
            left.Intern = _merges[Key(left.Intern, right.Intern)].Result;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0)
                symbols[right.Next].Prev = b.Left;
            TryAdd(symbols, heap, left.Prev, b.Left);
            TryAdd(symbols, heap, b.Left, left.Next);
        }

        for (int i = 0; i != -1; i = symbols[i].Next)
        {
            var sym = symbols[i];
            int token = sym.Intern >= 0 ? _internToken[sym.Intern] : -1;
            if (token < 0 && sym.Length == 1)
                token = _rawToToken.TryGetValue(word.Slice(sym.Start, 1), out int t) ? t : -1;
            if (token >= 0)
            {
                output.Add(token);
                continue;
            }
            foreach (byte c in word.Slice(sym.Start, sym.Length))
                if (_singleByteToken[c] >= 0)
                    output.Add(_singleByteToken[c]);
        }
    }

    private void TryAdd(Symbol[] symbols, MinHeap<Bigram> heap, int left, int right)
    {
        if (left == -1 || right == -1)
            return;
        int a = symbols[left].Intern;
        int b = symbols[right].Intern;
        if (a < 0 || b < 0 || !_merges.TryGetValue(Key(a, b), out var m))
            return;
        heap.Push(new Bigram(m.Rank, left, right, symbols[left].Length + symbols[right].Length));
    }
}

/// <summary>The GPT-2 byte ↔ character alphabet: printable bytes map to themselves, the rest to U+0100 onwards.</summary>
internal static class ByteLevel
{
    public static readonly int[] ByteToChar = BuildByteToChar();
    private static readonly int[] CharToByte = BuildCharToByte();

    private static int[] BuildByteToChar()
    {
        var map = new int[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? b : 256 + n++;
        }
        return map;
    }

    private static int[] BuildCharToByte()
    {
        var inv = new int[324];
        Array.Fill(inv, -1);
        for (int b = 0; b < 256; b++)
            inv[ByteToChar[b]] = b;
        return inv;
    }

    /// <summary>The byte a code point of the alphabet stands for, or -1.</summary>
    public static int ToByte(int cp) => (uint)cp < (uint)CharToByte.Length ? CharToByte[cp] : -1;

    /// <summary>Decodes an alphabet string into raw bytes; -1 when some character is outside the alphabet.</summary>
    public static int TryDecode(ReadOnlySpan<char> s, Span<byte> dst)
    {
        int n = 0;
        foreach (char c in s)
        {
            int b = ToByte(c);
            if (b < 0 || n >= dst.Length)
                return -1;
            dst[n++] = (byte)b;
        }
        return n;
    }
}
