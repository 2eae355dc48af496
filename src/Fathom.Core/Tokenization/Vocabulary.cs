using System.Text;
using Fathom.Gguf;

namespace Fathom.Tokenization;

/// <summary>
/// The tokens of a GGUF and what llama.cpp's vocab loader makes of them: attributes (with its overrides of
/// control-looking tokens), special ids with the per-type defaults, add_bos/add_eos, and the end-of-generation set.
/// </summary>
internal sealed class Vocabulary
{
    public const int Null = -1;

    private Vocabulary(VocabularyKind kind, string model, string? pre, string[] texts)
    {
        Kind = kind;
        Model = model;
        Pre = pre;
        Texts = texts;
        Bytes = new byte[texts.Length][];
        Scores = new float[texts.Length];
        Attrs = new TokenAttr[texts.Length];
        Types = new TokenType[texts.Length];
        TextToId = new ByteMap<int>(texts.Length);
    }

    public VocabularyKind Kind { get; }
    public string Model { get; }
    public string? Pre { get; }
    public string[] Texts { get; }
    public byte[][] Bytes { get; }
    public float[] Scores { get; }
    public TokenAttr[] Attrs { get; }
    public TokenType[] Types { get; }
    public ByteMap<int> TextToId { get; }
    public int Count => Texts.Length;
    public int MaxTokenBytes { get; private set; }

    public int Bos { get; private set; } = 1;
    public int Eos { get; private set; } = 2;
    public int Eot { get; private set; } = Null;
    public int Eom { get; private set; } = Null;
    public int Unk { get; private set; } = 0;
    public int Sep { get; private set; } = Null;
    public int Pad { get; private set; } = Null;
    public int Mask { get; private set; } = Null;
    public int FimPre { get; private set; } = Null;
    public int FimSuf { get; private set; } = Null;
    public int FimMid { get; private set; } = Null;
    public int FimPad { get; private set; } = Null;
    public int FimRep { get; private set; } = Null;
    public int FimSep { get; private set; } = Null;

    public bool AddSpacePrefix { get; private set; }
    public bool AddBos { get; private set; }
    public bool AddEos { get; private set; }
    public bool AddSep { get; private set; }
    public bool IgnoreMerges { get; private set; }
    public bool CleanSpaces { get; private set; }

    public int[] Eog { get; private set; } = [];
    private HashSet<int> _eog = [];

    /// <summary>CONTROL/USER_DEFINED/UNKNOWN tokens, longest text first: the order special text is matched in.</summary>
    public int[] SpecialTokens { get; private set; } = [];

    public PreTokenizer? PreTokenizer { get; private set; }

    /// <summary>Merges in rank order as stored ("left right"); only for BPE.</summary>
    public string[] Merges { get; private set; } = [];

    public bool IsEog(int id) => _eog.Contains(id);

    public int TokenId(string text) => TextToId.TryGetValue(Encoding.UTF8.GetBytes(text), out int id) ? id : Null;

    public static Vocabulary Load(GgufFile gguf)
    {
        string model = gguf.GetStringOrNull(GgufKeys.Tokenizer.Model)
            ?? throw new TokenizerException($"the GGUF has no tokenizer ({GgufKeys.Tokenizer.Model} is missing)");
        string? pre = gguf.GetStringOrNull(GgufKeys.Tokenizer.Pre);
        var kind = model switch
        {
            "llama" => VocabularyKind.SentencePiece,
            "gpt2" => VocabularyKind.BytePairEncoding,
            "bert" => VocabularyKind.WordPiece,
            _ => throw new TokenizerException($"unsupported tokenizer model '{model}' ({GgufKeys.Tokenizer.Model}); supported: llama, gpt2, bert"),
        };
        string[] texts = gguf.GetArrayOrNull<string>(GgufKeys.Tokenizer.Tokens)
            ?? throw new TokenizerException($"the GGUF has no token list ({GgufKeys.Tokenizer.Tokens})");
        if (texts.Length == 0)
            throw new TokenizerException($"{GgufKeys.Tokenizer.Tokens} is empty");

        var v = new Vocabulary(kind, model, pre, texts);
        v.ApplyTypeDefaults(gguf);
        v.ReadTokens(gguf);
        v.ReadSpecialIds(gguf);
        v.DetectSpecialTokens();
        v.ApplyNameAttributes(gguf);
        return v;
    }

    private void ApplyTypeDefaults(GgufFile gguf)
    {
        switch (Kind)
        {
            case VocabularyKind.SentencePiece:
                (Bos, Eos, Unk) = (1, 2, 0);
                AddSpacePrefix = true;
                AddBos = true;
                break;
            case VocabularyKind.WordPiece:
                (Bos, Eos, Unk, Sep, Pad, Mask) = (101, Null, 100, 102, 0, 103);
                AddBos = true;
                AddSep = true;
                CleanSpaces = true;
                break;
            case VocabularyKind.BytePairEncoding:
                (Bos, Eos, Unk) = (11, 11, Null);
                PreTokenizer = PreTokenizer.ForName(Pre, out var traits);
                CleanSpaces = traits.CleanSpaces;
                IgnoreMerges = traits.IgnoreMerges;
                AddBos = traits.AddBos ?? false;
                AddSep = traits.AddSep;
                if (traits.NoBos)
                    Bos = Null;
                Merges = ReadMerges(gguf);
                break;
        }
        AddSpacePrefix = gguf.GetBoolOrNull(GgufKeys.Tokenizer.AddSpacePrefix) ?? AddSpacePrefix;
    }

    private static string[] ReadMerges(GgufFile gguf)
        => gguf.GetArrayOrNull<string>(GgufKeys.Tokenizer.Merges)
            ?? throw new TokenizerException($"a gpt2 tokenizer needs {GgufKeys.Tokenizer.Merges}, which the GGUF lacks");

    private void ReadTokens(GgufFile gguf)
    {
        int n = Texts.Length;
        float[]? scores = null;
        if (gguf.Find(GgufKeys.Tokenizer.Scores)?.AsArray is { } sa)
        {
            scores = sa.Items as float[] ?? throw new TokenizerException($"{GgufKeys.Tokenizer.Scores} must be an array of f32");
            if (scores.Length < n)
                throw new TokenizerException($"{GgufKeys.Tokenizer.Scores} has {scores.Length} entries for {n} tokens");
        }
        int[]? types = null;
        if (gguf.Find(GgufKeys.Tokenizer.TokenType)?.AsArray is { } ta)
        {
            types = ta.Items switch
            {
                int[] a => a,
                uint[] a => Array.ConvertAll(a, x => (int)x),
                _ => throw new TokenizerException($"{GgufKeys.Tokenizer.TokenType} must be an array of i32"),
            };
            if (types.Length < n)
                throw new TokenizerException($"{GgufKeys.Tokenizer.TokenType} has {types.Length} entries for {n} tokens");
        }

        for (int i = 0; i < n; i++)
        {
            if (Texts[i].Length == 0)
                Texts[i] = $"[EMPTY_{i}]";
            byte[] b = Encoding.UTF8.GetBytes(Texts[i]);
            Bytes[i] = b;
            MaxTokenBytes = Math.Max(MaxTokenBytes, b.Length);
            if (!TextToId.TryAdd(b, i))
                throw new TokenizerException($"token {i} '{Texts[i]}' duplicates an earlier token's text in {GgufKeys.Tokenizer.Tokens}");
            Scores[i] = scores?[i] ?? 0f;
            var type = types is null ? TokenType.Normal : (TokenType)types[i];
            Types[i] = type;
            Attrs[i] = type switch
            {
                TokenType.Unknown => TokenAttr.Unknown,
                TokenType.Unused => TokenAttr.Unused,
                TokenType.Normal => TokenAttr.Normal,
                TokenType.Control => TokenAttr.Control,
                TokenType.UserDefined => TokenAttr.UserDefined,
                TokenType.Byte => TokenAttr.Byte,
                _ => TokenAttr.Undefined,
            };
        }
    }

    private void ReadSpecialIds(GgufFile gguf)
    {
        int Read(string key, int current)
        {
            uint? id = gguf.GetUInt32OrNull(key);
            return id is { } x && x < (uint)Count ? (int)x : current;
        }

        Bos = Read(GgufKeys.Tokenizer.BosId, Bos);
        Eos = Read(GgufKeys.Tokenizer.EosId, Eos);
        Eot = Read(GgufKeys.Tokenizer.EotId, Eot);
        Eom = Read(GgufKeys.Tokenizer.EomId, Eom);
        Unk = Read(GgufKeys.Tokenizer.UnknownId, Unk);
        Sep = Read(GgufKeys.Tokenizer.SeparatorId, Sep);
        Pad = Read(GgufKeys.Tokenizer.PaddingId, Pad);
        Mask = Read(GgufKeys.Tokenizer.MaskId, Mask);
        FimPre = Read(GgufKeys.Tokenizer.FimPreId, FimPre);
        FimSuf = Read(GgufKeys.Tokenizer.FimSufId, FimSuf);
        FimMid = Read(GgufKeys.Tokenizer.FimMidId, FimMid);
        FimPad = Read("tokenizer.ggml.fim_pad_token_id", FimPad);
        FimRep = Read("tokenizer.ggml.fim_rep_token_id", FimRep);
        FimSep = Read("tokenizer.ggml.fim_sep_token_id", FimSep);
        FimPre = Read("tokenizer.ggml.prefix_token_id", FimPre);
        FimSuf = Read("tokenizer.ggml.suffix_token_id", FimSuf);
        FimMid = Read("tokenizer.ggml.middle_token_id", FimMid);

        // a type default beyond a small vocabulary (e.g. BPE's 11) means "none" rather than a dangling id
        int Valid(int id) => id < Count ? id : Null;
        (Bos, Eos, Unk, Sep, Pad, Mask) = (Valid(Bos), Valid(Eos), Valid(Unk), Valid(Sep), Valid(Pad), Valid(Mask));

        AddBos = gguf.GetBoolOrNull(GgufKeys.Tokenizer.AddBos) ?? AddBos;
        AddEos = gguf.GetBoolOrNull(GgufKeys.Tokenizer.AddEos) ?? AddEos;
        AddSep = gguf.GetBoolOrNull(GgufKeys.Tokenizer.AddSep) ?? AddSep;
    }

    // Texts llama.cpp recognises by name, in its order of preference (it takes the first it meets).
    private static readonly string[] EotTexts =
        ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];
    private static readonly string[] EomTexts = ["<|eom_id|>"];
    private static readonly string[] FimPreTexts = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
    private static readonly string[] FimSufTexts = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
    private static readonly string[] FimMidTexts = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
    private static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
    private static readonly string[] FimRepTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
    private static readonly string[] FimSepTexts = ["<|file_sep|>"];
    private static readonly string[] EogTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>",
        "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
        "<|tool_response>", "<｜end▁of▁sentence｜>",
    ];

    private void DetectSpecialTokens()
    {
        // llama.cpp walks an unordered map and keeps the first match; taking the first name in its list is the
        // deterministic reading of that and agrees with llama.cpp on every vocab we check against.
        int Detect(int current, string[] names)
        {
            if (current != Null)
                return current;
            foreach (string name in names)
            {
                int id = TokenId(name);
                if (id != Null)
                {
                    Attrs[id] |= TokenAttr.Control;
                    return id;
                }
            }
            return Null;
        }

        Eot = Detect(Eot, EotTexts);
        Eom = Detect(Eom, EomTexts);
        FimPre = Detect(FimPre, FimPreTexts);
        FimSuf = Detect(FimSuf, FimSufTexts);
        FimMid = Detect(FimMid, FimMidTexts);
        FimPad = Detect(FimPad, FimPadTexts);
        FimRep = Detect(FimRep, FimRepTexts);
        FimSep = Detect(FimSep, FimSepTexts);

        for (int i = 0; i < Count; i++)
            if ((Attrs[i] & TokenAttr.Control) != 0 && Texts[i].Contains("unused", StringComparison.Ordinal))
                Attrs[i] |= TokenAttr.Unused;

        var eog = new SortedSet<int>();
        foreach (int id in (int[])[FimPad, FimRep, FimSep])
            if (id != Null)
                eog.Add(id);
        foreach (string name in EogTexts)
        {
            int id = TokenId(name);
            if (id == Null)
                continue;
            eog.Add(id);
            Attrs[id] |= TokenAttr.Control;
        }
        foreach (string name in (string[])["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])
        {
            int id = TokenId(name);
            if (id != Null)
                Attrs[id] = TokenAttr.UserDefined;
        }
        foreach (int id in (int[])[Eos, Eot, Eom])
            if (id != Null)
                eog.Add(id);

        bool Has(string text) => eog.Any(id => Texts[id] == text);
        if ((Has("<|return|>") && Has("<|call|>") && Has("<|end|>")) || (Has("<|calls|>") && Has("<|flush|>") && Has("<|end|>")))
        {
            int end = eog.First(id => Texts[id] == "<|end|>");
            eog.Remove(end);
            Attrs[end] = TokenAttr.UserDefined;
        }
        if (Has("<|tool_response>") && Has("</s>"))
        {
            int s = eog.First(id => Texts[id] == "</s>");
            eog.Remove(s);
            Attrs[s] = TokenAttr.Normal;
        }
        Eog = [.. eog];
        _eog = [.. eog];

        var special = new List<int>();
        for (int i = 0; i < Count; i++)
            if ((Attrs[i] & (TokenAttr.Control | TokenAttr.UserDefined | TokenAttr.Unknown)) != 0)
                special.Add(i);
        // longest first; equal lengths by id (llama.cpp's sort leaves their order unspecified)
        special.Sort((a, b) => Bytes[a].Length != Bytes[b].Length ? Bytes[b].Length.CompareTo(Bytes[a].Length) : a.CompareTo(b));
        SpecialTokens = [.. special];
    }

    private void ApplyNameAttributes(GgufFile gguf)
    {
        string name = (gguf.GetStringOrNull(GgufKeys.General.Name) ?? "").ToLowerInvariant();
        string pre = Pre ?? "";
        string arch = gguf.GetStringOrNull(GgufKeys.General.Architecture) ?? "";
        if (pre.Contains("jina-v2-de", StringComparison.Ordinal) || pre.Contains("jina-v2-es", StringComparison.Ordinal)
            || pre.Contains("jina-v2-code", StringComparison.Ordinal) || arch.Contains("nomic-bert-moe", StringComparison.Ordinal)
            || arch.Contains("jina-bert-v3", StringComparison.Ordinal))
        {
            int mask = TokenId("<mask>");
            if (mask != Null)
                Attrs[mask] |= TokenAttr.LStrip;
        }
        else if (name.Contains("phi-3", StringComparison.Ordinal) || name.Contains("phi3", StringComparison.Ordinal))
        {
            foreach (int id in SpecialTokens)
                Attrs[id] |= TokenAttr.RStrip;
            SetFlag("</s>", TokenAttr.RStrip, true);
            foreach (string t in (string[])["<unk>", "<s>", "<|endoftext|>"])
                SetFlag(t, TokenAttr.RStrip, false);
        }
        else if (name.Contains("modern-bert", StringComparison.Ordinal))
        {
            SetFlag("[MASK]", TokenAttr.LStrip, true);
        }
    }

    private void SetFlag(string text, TokenAttr flag, bool on)
    {
        int id = TokenId(text);
        if (id == Null)
            throw new TokenizerException($"the vocabulary lacks the token '{text}' this model family needs");
        Attrs[id] = on ? Attrs[id] | flag : Attrs[id] & ~flag;
    }
}
