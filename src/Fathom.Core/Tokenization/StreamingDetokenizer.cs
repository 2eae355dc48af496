using System.Text;

namespace Fathom.Tokenization;

/// <summary>
/// Turns generated token ids into text as they arrive without ever emitting part of a UTF-8 character:
/// bytes of an incomplete character (a multi-byte character split over tokens, or byte-fallback tokens
/// &lt;0xNN&gt;) are held until the character completes; a sequence that can no longer complete becomes U+FFFD.
/// Pieces are llama.cpp's token_to_piece (no space clean-up, which needs look-ahead).
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly List<byte> _pending = [];
    private bool _stripSpace;

    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="renderSpecial">Write the text of control tokens (as <see cref="Tokenizer.Decode"/> does).</param>
    /// <param name="atStartOfText">The first id begins the text: strip the leading space SentencePiece families add.</param>
    public StreamingDetokenizer(Tokenizer tokenizer, bool renderSpecial = true, bool atStartOfText = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
        _stripSpace = atStartOfText && tokenizer.AddSpacePrefix;
    }

    /// <summary>Adds one token; returns the text that is now complete (often empty).</summary>
    public string Push(int id)
    {
        var piece = _tokenizer.TokenToPiece(id, _renderSpecial).AsSpan();
        if (_stripSpace && piece.Length > 0 && piece[0] == (byte)' ')
            piece = piece[1..];
        _stripSpace = false;
        foreach (byte b in piece)
            _pending.Add(b);
        int complete = CompletePrefix(_pending);
        if (complete == 0)
            return "";
        string text = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..complete]);
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Ends the stream: whatever is held back is emitted (an unfinished character as U+FFFD).</summary>
    public string Flush()
    {
        string text = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        _pending.Clear();
        return text;
    }

    /// <summary>Bytes held back waiting for the rest of a character.</summary>
    public int PendingBytes => _pending.Count;

    /// <summary>Length of the prefix that ends on a character boundary (an unfinished final sequence is held back).</summary>
    internal static int CompletePrefix(List<byte> bytes)
    {
        int n = bytes.Count;
        // look back at most 3 bytes for the lead byte of an unfinished sequence
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte b = bytes[n - back];
            if ((b & 0xC0) == 0x80)
                continue; // continuation byte: keep looking for its lead
            int need = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
