using System.Globalization;

namespace Fathom.Tokenization;

/// <summary>
/// Code point classes as llama.cpp's unicode tables define them (one category bit per code point plus a
/// whitespace bit), and its lenient UTF-8 decoder. .NET's tables are Unicode 16.0, llama.cpp's are 15.1:
/// code points first assigned in 16.0 are treated as unassigned so pre-tokenization splits the same way.
/// </summary>
internal static class Unicode
{
    public const ushort Undefined = 0x0001;
    public const ushort Number = 0x0002;
    public const ushort Letter = 0x0004;
    public const ushort Separator = 0x0008;
    public const ushort Mark = 0x0010;
    public const ushort Punctuation = 0x0020;
    public const ushort Symbol = 0x0040;
    public const ushort Control = 0x0080;
    public const ushort Whitespace = 0x0100;

    public const int MaxCodePoint = 0x10FFFF;
    public const int Replacement = 0xFFFD;

    private static readonly Lazy<ushort[]> Table = new(Build);

    // First assigned in Unicode 16.0; unassigned in the 15.1 tables llama.cpp was generated from.
    private static readonly (int First, int Last)[] NewInUnicode16 =
    [
        (0x897, 0x897), (0x1B4E, 0x1B4F), (0x1B7F, 0x1B7F), (0x1C89, 0x1C8A), (0x2427, 0x2429), (0x31E4, 0x31E5),
        (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3), (0x10D40, 0x10D65), (0x10D69, 0x10D85),
        (0x10D8E, 0x10D8F), (0x10EC2, 0x10EC4), (0x10EFC, 0x10EFC), (0x11380, 0x11389), (0x1138B, 0x1138B),
        (0x1138E, 0x1138E), (0x11390, 0x113B5), (0x113B7, 0x113C0), (0x113C2, 0x113C2), (0x113C5, 0x113C5),
        (0x113C7, 0x113CA), (0x113CC, 0x113D5), (0x113D7, 0x113D8), (0x113E1, 0x113E2), (0x116D0, 0x116E3),
        (0x11BC0, 0x11BE1), (0x11BF0, 0x11BF9), (0x11F5A, 0x11F5A), (0x13460, 0x143FA), (0x16100, 0x16139),
        (0x16D40, 0x16D79), (0x18CFF, 0x18CFF), (0x1CC00, 0x1CCF9), (0x1CD00, 0x1CEB3), (0x1E5D0, 0x1E5FA),
        (0x1E5FF, 0x1E5FF), (0x1F8B2, 0x1F8BB), (0x1F8C0, 0x1F8C1), (0x1FA89, 0x1FA89), (0x1FA8F, 0x1FA8F),
        (0x1FABE, 0x1FABE), (0x1FAC6, 0x1FAC6), (0x1FADC, 0x1FADC), (0x1FADF, 0x1FADF), (0x1FAE9, 0x1FAE9),
        (0x1FBCB, 0x1FBEF),
    ];

    private static readonly int[] WhitespaceCodePoints =
    [
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
        0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    ];

    /// <summary>Flags of a code point; 0 for values outside the code space (llama.cpp's "out of range").</summary>
    public static ushort Flags(int cp) => (uint)cp <= MaxCodePoint ? Table.Value[cp] : Undefined;

    /// <summary>The flags table itself, for loops that classify many code points.</summary>
    public static ushort[] FlagsTable => Table.Value;

    public static bool IsWhitespace(int cp) => (Flags(cp) & Whitespace) != 0;

    /// <summary>ASCII-only lower-casing, enough for the contraction rules (only A–Z fold to a–z there).</summary>
    public static int ToLowerAscii(int cp) => cp is >= 'A' and <= 'Z' ? cp + 32 : cp;

    private static ushort[] Build()
    {
        var t = new ushort[MaxCodePoint + 1];
        for (int cp = 0; cp <= MaxCodePoint; cp++)
            t[cp] = cp is >= 0xD800 and <= 0xDFFF ? Control : FromCategory(CharUnicodeInfo.GetUnicodeCategory(cp));
        foreach (var (first, last) in NewInUnicode16)
            for (int cp = first; cp <= last; cp++)
                t[cp] = Undefined;
        foreach (int cp in WhitespaceCodePoints)
            t[cp] |= Whitespace;
        return t;
    }

    private static ushort FromCategory(UnicodeCategory c) => c switch
    {
        UnicodeCategory.OtherNotAssigned => Undefined,
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate => Control,
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
        UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => Mark,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
        UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => Separator,
        UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => Punctuation,
        _ => Symbol,
    };

    /// <summary>Length of the UTF-8 sequence a lead byte announces, as llama.cpp counts it (1 for stray bytes).</summary>
    public static int Utf8Length(byte lead) => (lead >> 4) switch
    {
        < 12 => 1,
        12 or 13 => 2,
        14 => 3,
        _ => 4,
    };

    /// <summary>
    /// Decodes UTF-8 the way llama.cpp does: structurally (no overlong/surrogate checks); a byte that does not
    /// start a well-formed sequence becomes U+FFFD and decoding resumes at the next byte. Returns the count.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> s, Span<int> cps)
    {
        int n = 0;
        int i = 0;
        while (i < s.Length)
        {
            byte b = s[i];
            if (b < 0x80)
            {
                cps[n++] = b;
                i++;
                continue;
            }
            int need = (b & 0x40) == 0 ? 0 : (b & 0x20) == 0 ? 2 : (b & 0x10) == 0 ? 3 : (b & 0x08) == 0 ? 4 : 0;
            if (need == 0 || i + need > s.Length || !Continuations(s.Slice(i + 1, need - 1)))
            {
                cps[n++] = Replacement;
                i++;
                continue;
            }
            int cp = need switch
            {
                2 => ((b & 0x1F) << 6) | (s[i + 1] & 0x3F),
                3 => ((b & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F),
                _ => ((b & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F),
            };
            cps[n++] = cp > MaxCodePoint ? Replacement : cp;
            i += need;
        }
        return n;
    }

    private static bool Continuations(ReadOnlySpan<byte> s)
    {
        foreach (byte c in s)
            if ((c & 0xC0) != 0x80)
                return false;
        return true;
    }

    /// <summary>Encodes one code point (surrogate values too, as llama.cpp does); returns the byte count.</summary>
    public static int Encode(int cp, Span<byte> dst)
    {
        if (cp < 0x80)
        {
            dst[0] = (byte)cp;
            return 1;
        }
        if (cp < 0x800)
        {
            dst[0] = (byte)(0xC0 | (cp >> 6));
            dst[1] = (byte)(0x80 | (cp & 0x3F));
            return 2;
        }
        if (cp < 0x10000)
        {
            dst[0] = (byte)(0xE0 | (cp >> 12));
            dst[1] = (byte)(0x80 | ((cp >> 6) & 0x3F));
            dst[2] = (byte)(0x80 | (cp & 0x3F));
            return 3;
        }
        dst[0] = (byte)(0xF0 | (cp >> 18));
        dst[1] = (byte)(0x80 | ((cp >> 12) & 0x3F));
        dst[2] = (byte)(0x80 | ((cp >> 6) & 0x3F));
        dst[3] = (byte)(0x80 | (cp & 0x3F));
        return 4;
    }

    public static int EncodedLength(int cp) => cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}
