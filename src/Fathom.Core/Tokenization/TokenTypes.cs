namespace Fathom.Tokenization;

/// <summary>The tokenizer family named by <c>tokenizer.ggml.model</c>.</summary>
public enum VocabularyKind
{
    /// <summary><c>llama</c>: SentencePiece BPE over scores with byte fallback.</summary>
    SentencePiece,

    /// <summary><c>gpt2</c>: byte-level BPE over merge ranks with a regex pre-tokenizer.</summary>
    BytePairEncoding,

    /// <summary><c>bert</c>: WordPiece.</summary>
    WordPiece,
}

/// <summary>A token's type as <c>tokenizer.ggml.token_type</c> stores it.</summary>
public enum TokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>llama.cpp's per-token attributes (llama_token_attr), derived from the type and its load-time overrides.</summary>
[Flags]
internal enum TokenAttr
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    LStrip = 1 << 7,
    RStrip = 1 << 8,
    SingleWord = 1 << 9,
}
