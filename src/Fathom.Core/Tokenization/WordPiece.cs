using System.Text;

namespace Fathom.Tokenization;

/// <summary>
/// WordPiece as llama.cpp runs it for BERT vocabularies: NFD base letters, lower-cased, split at whitespace,
/// punctuation and CJK ideographs, then greedy longest-match per word with a phantom-space prefix (▁);
/// a word that cannot be spelled becomes the unknown token.
/// </summary>
internal sealed class WordPiece(Vocabulary vocab)
{
    public void Encode(ReadOnlySpan<byte> text, List<int> output)
    {
        var cps = new int[text.Length];
        int n = Unicode.Decode(text, cps);
        var word = new List<byte>();
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < n; i++)
        {
            int cp = NfdTable.Base(cps[i]);
            ushort flags = Unicode.Flags(cp);
            if ((flags & Unicode.Whitespace) != 0)
            {
                Flush(word, output);
                continue;
            }
            if (cp == 0 || cp == Unicode.Replacement || (flags & Unicode.Control) != 0)
                continue;
            int lower = cp <= Unicode.MaxCodePoint && !(cp is >= 0xD800 and <= 0xDFFF) ? Rune.ToLowerInvariant(new Rune(cp)).Value : cp;
            int len = Unicode.Encode(lower, utf8);
            if ((flags & Unicode.Punctuation) != 0 || (cp < 0x7F && (flags & Unicode.Symbol) != 0) || IsChinese(cp))
            {
                Flush(word, output);
                word.AddRange(utf8[..len]);
                Flush(word, output);
            }
            else
                word.AddRange(utf8[..len]);
        }
        Flush(word, output);
    }

    private void Flush(List<byte> word, List<int> output)
    {
        if (word.Count == 0)
            return;
        var w = new byte[word.Count + 3];
        w[0] = 0xE2;
        w[1] = 0x96;
        w[2] = 0x81;
        word.CopyTo(w, 3);
        word.Clear();
        int before = output.Count;
        int n = w.Length;
        for (int i = 0; i < n; i++)
        {
            bool match = false;
            for (int j = Math.Min(n, i + vocab.MaxTokenBytes + 1); j > i; j--)
            {
                if (vocab.TextToId.TryGetValue(w.AsSpan(i, j - i), out int id))
                {
                    output.Add(id);
                    match = true;
                    i = j - 1;
                    break;
                }
            }
            if (!match)
            {
                output.RemoveRange(before, output.Count - before);
                break;
            }
        }
        if (output.Count == before)
            output.Add(vocab.Unk >= 0 ? vocab.Unk : throw new TokenizerException("a word cannot be spelled and the vocabulary has no unknown token"));
    }

    private static bool IsChinese(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
