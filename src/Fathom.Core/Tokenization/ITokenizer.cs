namespace Fathom.Tokenization;

/// <summary>Text ↔ token ids for one model, exactly as llama.cpp tokenizes and detokenizes it.</summary>
public interface ITokenizer
{
    /// <summary>Number of tokens in the vocabulary.</summary>
    int VocabularySize { get; }

    /// <summary>Beginning-of-sequence id, or -1.</summary>
    int Bos { get; }

    /// <summary>End-of-sequence id, or -1.</summary>
    int Eos { get; }

    /// <summary>End-of-turn id, or -1.</summary>
    int Eot { get; }

    /// <summary>Ids that end generation (EOS, EOT and the end markers llama.cpp recognises).</summary>
    IReadOnlyList<int> EndOfGeneration { get; }

    bool IsEndOfGeneration(int id);

    /// <summary>Tokenizes text. <paramref name="addSpecial"/> adds BOS/EOS as the model asks;
    /// <paramref name="parseSpecial"/> turns control-token text (e.g. <c>&lt;|im_start|&gt;</c>) into that token.</summary>
    int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false);

    /// <summary>Tokenizes UTF-8 bytes (invalid sequences are read as U+FFFD, as llama.cpp does).</summary>
    int[] Encode(ReadOnlySpan<byte> utf8, bool addSpecial = true, bool parseSpecial = false);

    /// <summary>The number of tokens <see cref="Encode(string, bool, bool)"/> would return.</summary>
    int CountTokens(string text, bool addSpecial = true, bool parseSpecial = false);

    /// <summary>Detokenizes ids to text; <paramref name="renderSpecial"/> writes control tokens' text.</summary>
    string Decode(ReadOnlySpan<int> ids, bool renderSpecial = true);

    /// <summary>The bytes one token stands for (may be part of a UTF-8 character).</summary>
    byte[] TokenToPiece(int id, bool renderSpecial = true);
}
