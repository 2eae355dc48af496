using System.Text;
using Fathom.Gguf;

namespace Fathom.Tokenization;

/// <summary>
/// The tokenizer a GGUF describes in its <c>tokenizer.ggml.*</c> metadata: SentencePiece BPE (<c>llama</c>),
/// byte-level BPE with llama.cpp's pre-tokenizers (<c>gpt2</c>) or WordPiece (<c>bert</c>). Encoding and decoding
/// follow llama.cpp's <c>llama_tokenize</c> / <c>llama_detokenize</c>. Thread-safe.
/// </summary>
public sealed class Tokenizer : ITokenizer
{
    private readonly Vocabulary _vocab;
    private readonly SpecialTokenSplitter _userDefinedOnly;
    private readonly SpecialTokenSplitter _allSpecial;
    private readonly SentencePieceBpe? _spm;
    private readonly ByteLevelBpe? _bpe;
    private readonly WordPiece? _wpm;
    private readonly byte[][] _pieces;
    private Session? _idle;

    private Tokenizer(Vocabulary vocab)
    {
        _vocab = vocab;
        _userDefinedOnly = new SpecialTokenSplitter(vocab, parseSpecial: false);
        _allSpecial = new SpecialTokenSplitter(vocab, parseSpecial: true);
        switch (vocab.Kind)
        {
            case VocabularyKind.SentencePiece:
                _spm = new SentencePieceBpe(vocab);
                break;
            case VocabularyKind.BytePairEncoding:
                _bpe = new ByteLevelBpe(vocab);
                break;
            default:
                _wpm = new WordPiece(vocab);
                break;
        }
        _pieces = new byte[vocab.Count][];
        for (int i = 0; i < vocab.Count; i++)
            _pieces[i] = BuildPiece(i);
    }

    /// <summary>Builds the tokenizer from a GGUF's metadata; <see cref="TokenizerException"/> when it is unusable.</summary>
    public static Tokenizer FromGguf(GgufFile gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        return new Tokenizer(Vocabulary.Load(gguf));
    }

    public VocabularyKind Kind => _vocab.Kind;

    /// <summary><c>tokenizer.ggml.pre</c> as llama.cpp resolves it ("default" when absent); null for non-BPE.</summary>
    public string? PreTokenizer => _vocab.PreTokenizer?.Name;

    public int VocabularySize => _vocab.Count;
    public int Bos => _vocab.Bos;
    public int Eos => _vocab.Eos;
    public int Eot => _vocab.Eot;
    public int Eom => _vocab.Eom;
    public int Unknown => _vocab.Unk;
    public int Separator => _vocab.Sep;
    public int Padding => _vocab.Pad;

    /// <summary>Whether <see cref="Encode(string, bool, bool)"/> with addSpecial prepends BOS / appends EOS.</summary>
    public bool AddBos => _vocab.AddBos;
    public bool AddEos => _vocab.AddEos;

    /// <summary>Whether SentencePiece text gets a leading space (and decoding strips it).</summary>
    public bool AddSpacePrefix => _vocab.AddSpacePrefix;

    public IReadOnlyList<int> EndOfGeneration => _vocab.Eog;

    public bool IsEndOfGeneration(int id) => _vocab.IsEog(id);

    /// <summary>The token's text as stored in the vocabulary.</summary>
    public string TokenText(int id) => _vocab.Texts[Check(id)];

    /// <summary>The token's type after llama.cpp's load-time overrides (control-looking tokens become Control).</summary>
    public TokenType GetTokenType(int id)
    {
        var attr = _vocab.Attrs[Check(id)];
        return (attr & TokenAttr.Control) != 0 ? TokenType.Control
            : (attr & TokenAttr.UserDefined) != 0 ? TokenType.UserDefined
            : (attr & TokenAttr.Unknown) != 0 ? TokenType.Unknown
            : (attr & TokenAttr.Byte) != 0 ? TokenType.Byte
            : (attr & TokenAttr.Unused) != 0 ? TokenType.Unused
            : (attr & TokenAttr.Normal) != 0 ? TokenType.Normal
            : TokenType.Undefined;
    }

    /// <summary>The id of the token with exactly this text, or -1.</summary>
    public int TokenId(string text) => _vocab.TokenId(text);

    // ---- encoding --------------------------------------------------------------------------------

    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(Encoding.UTF8.GetBytes(text), addSpecial, parseSpecial);
    }

    public int[] Encode(ReadOnlySpan<byte> utf8, bool addSpecial = true, bool parseSpecial = false)
    {
        var s = Rent();
        try
        {
            EncodeInto(utf8, addSpecial, parseSpecial, s);
            return [.. s.Output];
        }
        finally
        {
            Return(s);
        }
    }

    public int CountTokens(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = Rent();
        try
        {
            EncodeInto(Encoding.UTF8.GetBytes(text), addSpecial, parseSpecial, s);
            return s.Output.Count;
        }
        finally
        {
            Return(s);
        }
    }

    private void EncodeInto(ReadOnlySpan<byte> text, bool addSpecial, bool parseSpecial, Session s)
    {
        var output = s.Output;
        output.Clear();
        (parseSpecial ? _allSpecial : _userDefinedOnly).Split(text, s.Fragments);
        switch (_vocab.Kind)
        {
            case VocabularyKind.SentencePiece:
            {
                bool prevSpecial = true;
                if (addSpecial && _vocab.AddBos)
                    output.Add(Required(_vocab.Bos, "BOS"));
                foreach (var f in s.Fragments)
                {
                    if (f.IsToken)
                    {
                        output.Add(f.Token);
                        prevSpecial = true;
                        continue;
                    }
                    var escaped = EscapeSpaces(text.Slice(f.Start, f.Length), _vocab.AddSpacePrefix && prevSpecial, s);
                    _spm!.Encode(escaped, s.Spm, output);
                    prevSpecial = false;
                }
                if (addSpecial && _vocab.AddEos)
                    output.Add(Required(_vocab.Eos, "EOS"));
                break;
            }
            case VocabularyKind.BytePairEncoding:
            {
                if (addSpecial && _vocab.AddBos)
                    output.Add(Required(_vocab.Bos, "BOS"));
                foreach (var f in s.Fragments)
                {
                    if (f.IsToken)
                        output.Add(f.Token);
                    else
                        EncodeBpeText(text.Slice(f.Start, f.Length), s);
                }
                if (addSpecial && _vocab.AddEos)
                    output.Add(Required(_vocab.Eos, "EOS"));
                break;
            }
            default:
            {
                if (addSpecial)
                    output.Add(Required(_vocab.Bos, "CLS"));
                foreach (var f in s.Fragments)
                {
                    if (f.IsToken)
                        output.Add(f.Token);
                    else
                        _wpm!.Encode(text.Slice(f.Start, f.Length), output);
                }
                if (addSpecial)
                    output.Add(Required(_vocab.Sep, "SEP"));
                break;
            }
        }
    }

    private static int Required(int id, string what)
        => id >= 0 ? id : throw new TokenizerException($"the model asks for a {what} token but its vocabulary defines none");

    private static ReadOnlySpan<byte> EscapeSpaces(ReadOnlySpan<byte> text, bool prefix, Session s)
    {
        int need = text.Length + text.Count((byte)' ') * 2 + (prefix ? 3 : 0);
        if (s.Bytes.Length < need)
            s.Bytes = new byte[Math.Max(need, s.Bytes.Length * 2)];
        var dst = s.Bytes;
        int n = 0;
        if (prefix)
            n = WriteSpaceMark(dst, n);
        foreach (byte b in text)
        {
            if (b == ' ')
                n = WriteSpaceMark(dst, n);
            else
                dst[n++] = b;
        }
        return dst.AsSpan(0, n);
    }

    private static int WriteSpaceMark(byte[] dst, int n)
    {
        dst[n] = 0xE2;
        dst[n + 1] = 0x96;
        dst[n + 2] = 0x81;
        return n + 3;
    }

    private void EncodeBpeText(ReadOnlySpan<byte> text, Session s)
    {
        // decode as llama.cpp does (bad bytes become U+FFFD) and re-encode, so pieces are exact byte ranges
        if (s.CodePoints.Length < text.Length)
            s.CodePoints = new int[Math.Max(text.Length, s.CodePoints.Length * 2)];
        int n = Unicode.Decode(text, s.CodePoints);
        var cps = s.CodePoints.AsSpan(0, n);
        if (s.Offsets.Length < n + 1)
            s.Offsets = new int[Math.Max(n + 1, s.Offsets.Length * 2)];
        if (s.Bytes.Length < n * 4)
            s.Bytes = new byte[Math.Max(n * 4, s.Bytes.Length * 2)];
        int len = 0;
        for (int i = 0; i < n; i++)
        {
            s.Offsets[i] = len;
            len += Unicode.Encode(cps[i], s.Bytes.AsSpan(len));
        }
        s.Offsets[n] = len;

        _vocab.PreTokenizer!.Split(cps, s.Lengths, s.Scratch);
        int at = 0;
        foreach (int pieceLen in s.Lengths)
        {
            int from = s.Offsets[at];
            int to = s.Offsets[at + pieceLen];
            _bpe!.EncodeWord(s.Bytes.AsSpan(from, to - from), s.Bpe, s.Output);
            at += pieceLen;
        }
    }

    // ---- decoding --------------------------------------------------------------------------------

    public string Decode(ReadOnlySpan<int> ids, bool renderSpecial = true)
        => Encoding.UTF8.GetString(DecodeToUtf8(ids, renderSpecial));

    /// <summary>
    /// llama.cpp's <c>llama_detokenize</c>: pieces concatenated, the SentencePiece leading space stripped, and the
    /// clean-up of spaces before punctuation the model family asks for. <paramref name="removeSpecial"/> drops a
    /// leading BOS / trailing EOS the model adds itself.
    /// </summary>
    public byte[] DecodeToUtf8(ReadOnlySpan<int> ids, bool renderSpecial = true, bool removeSpecial = false)
        => Detokenize(ids, renderSpecial, removeSpecial, _vocab.CleanSpaces);

    internal byte[] Detokenize(ReadOnlySpan<int> ids, bool renderSpecial, bool removeSpecial, bool cleanSpaces)
    {
        foreach (int id in ids)
            Check(id);
        bool removeSpace = _vocab.AddSpacePrefix;
        if (removeSpecial && _vocab.AddBos && ids.Length > 0 && ids[0] == _vocab.Bos)
        {
            removeSpace = false;
            ids = ids[1..];
        }
        if (removeSpecial && _vocab.AddEos && ids.Length > 0 && ids[^1] == _vocab.Eos)
            ids = ids[..^1];

        var buf = new List<byte>(ids.Length * 4);
        foreach (int id in ids)
        {
            var piece = PieceSpan(id, renderSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
                piece = piece[1..];
            removeSpace = false;
            foreach (byte b in piece)
                buf.Add(b);
        }
        var text = buf.ToArray();
        return cleanSpaces ? CleanUpSpaces(text) : text;
    }

    /// <summary>llama.cpp's three clean-up passes (spaces before ?!., ; " ' "; contractions), done in place.</summary>
    internal static byte[] CleanUpSpaces(byte[] text)
    {
        int total = text.Length;

        int total1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total1; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',')
                total--;
            text[total++] = x;
        }

        int total2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total2; i++)
        {
            byte x = text[i];
            if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ')
            {
                total--;
                text[++i] = 0;
            }
            text[total++] = x;
        }

        int total3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total3; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3)
            {
                byte x1 = text[i + 1];
                if (x1 is (byte)'s' or (byte)'m')
                    total--;
                else if (x1 is not ((byte)'t' or (byte)'d') && i + 2 < total3)
                {
                    byte x2 = text[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
                        total--;
                }
            }
            text[total++] = x;
        }
        return text.AsSpan(0, total).ToArray();
    }

    public byte[] TokenToPiece(int id, bool renderSpecial = true) => PieceSpan(Check(id), renderSpecial).ToArray();

    internal ReadOnlySpan<byte> PieceSpan(int id, bool renderSpecial)
        => !renderSpecial && (_vocab.Attrs[id] & (TokenAttr.Unknown | TokenAttr.Control)) != 0 ? default : _pieces[id];

    private byte[] BuildPiece(int id)
    {
        var attr = _vocab.Attrs[id];
        byte[] text = _vocab.Bytes[id];
        if ((attr & (TokenAttr.Unknown | TokenAttr.Control | TokenAttr.UserDefined)) != 0)
            return text;
        if ((attr & TokenAttr.Normal) != 0)
            return _vocab.Kind == VocabularyKind.BytePairEncoding ? DecodeByteLevel(_vocab.Texts[id]) : UnescapeSpaces(text);
        if ((attr & TokenAttr.Byte) != 0 && _vocab.Kind != VocabularyKind.WordPiece)
        {
            string t = _vocab.Texts[id];
            // llama.cpp reads the two hex digits of <0xNN>; anything else reads as 0
            return [t.Length >= 5 && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte v) ? v : (byte)0];
        }
        return [];
    }

    private static byte[] UnescapeSpaces(byte[] text)
    {
        var result = new List<byte>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (i + 2 < text.Length && text[i] == 0xE2 && text[i + 1] == 0x96 && text[i + 2] == 0x81)
            {
                result.Add((byte)' ');
                i += 2;
            }
            else
                result.Add(text[i]);
        }
        return [.. result];
    }

    private static byte[] DecodeByteLevel(string text)
    {
        var result = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
        {
            int cp = char.ConvertToUtf32(text, i);
            int b = ByteLevel.ToByte(cp);
            if (b >= 0)
            {
                result.Add((byte)b);
                continue;
            }
            // llama.cpp writes an unmappable character as [UNK_BYTE_0x<its utf-8>] followed by the whole token text
            result.AddRange(Encoding.UTF8.GetBytes("[UNK_BYTE_0x"));
            int n = Unicode.Encode(cp, utf8);
            for (int k = 0; k < n; k++)
                result.AddRange(Encoding.ASCII.GetBytes(utf8[k].ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
            result.AddRange(Encoding.UTF8.GetBytes(text));
            result.Add((byte)']');
        }
        return [.. result];
    }

    private int Check(int id)
        => (uint)id < (uint)_vocab.Count ? id : throw new TokenizerException($"token id {id} is outside the vocabulary of {_vocab.Count} tokens");

    // ---- per-call buffers ------------------------------------------------------------------------

    private Session Rent() => Interlocked.Exchange(ref _idle, null) ?? new Session();

    // a session that grew for a huge input is dropped rather than kept alive with its buffers
    private void Return(Session s)
    {
        if (s.CodePoints.Length <= 1 << 20 && s.Bytes.Length <= 4 << 20)
            _idle = s;
    }

    private sealed class Session
    {
        public readonly List<int> Output = [];
        public readonly List<SpecialTokenSplitter.Fragment> Fragments = [];
        public readonly SentencePieceBpe.Session Spm = new();
        public readonly ByteLevelBpe.Session Bpe = new();
        public readonly List<int> Lengths = [];
        public readonly List<int> Scratch = [];
        public byte[] Bytes = new byte[256];
        public int[] CodePoints = new int[256];
        public int[] Offsets = new int[257];
    }
}
