using System.Text;
using System.Text.RegularExpressions;
using Fathom.Tokenization;

namespace Fathom.Tests.Tokenization;

/// <summary>
/// The hand-written pre-tokenizers against the regexes they implement. .NET Regex agrees with llama.cpp only
/// inside the Basic Multilingual Plane (it matches \p{..} per UTF-16 unit, so astral letters are not \p{L}), so the
/// differential runs on BMP text, and the astral case is pinned separately.
/// </summary>
public class PreTokenizerTests
{
    private const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private const string Llama3 = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2 = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly string[] Alphabet =
    [
        "a", "Z", "é", "ß", "Ω", "中", "日", "ㄱ", "1", "7", "٣", "½", "Ⅻ", " ", " ", "\t", "\n", "\r", "\u00A0", "\u3000", "\u2009",
        "'", "s", "S", "t", "re", "VE", "ll", "d", "m", "!", ".", ",", "-", "$", "+", "<", "©", "\u0301", "\u200B", "\u001C", "\u0085",
    ];

    [Theory]
    [InlineData("gpt-2", Gpt2)]
    [InlineData("llama-bpe", Llama3)]
    [InlineData("qwen2", Qwen2)]
    public void Splits_like_the_regex_on_random_bmp_text(string pre, string pattern)
    {
        var tokenizer = PreTokenizer.ForName(pre, out _);
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var rng = new Random(12345);
        for (int n = 0; n < 3000; n++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(0, 24);
            for (int i = 0; i < len; i++)
                sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
            string text = sb.ToString();
            Assert.Equal(RegexPieces(regex, text), Pieces(tokenizer, text));
        }
    }

    [Theory]
    [InlineData("default", "Hello, world!! 1234567 $x+y=z^2", new[] { "Hello", ",", " world", "!!", " ", "123", "456", "7", " ", "$", "x", "+", "y", "=", "z", "^", "2" })]
    [InlineData("falcon", "a`b 12345", new[] { "a", "`", "b", " ", "123", "45" })]
    [InlineData("starcoder", "x12 'll", new[] { "x", "1", "2", " '", "ll" })]
    [InlineData("deepseek-coder", "foo(bar)\n中文 42", new[] { "foo", "(", "bar", ")", "\n", "中文", " ", "4", "2" })]
    [InlineData("deepseek-llm", "Hi there  \n中文123", new[] { "Hi", " there", "  ", "\n", "中文", "123" })]
    public void Multi_pass_pre_tokenizers_split_like_llama_cpp(string pre, string text, string[] expected)
        => Assert.Equal(expected, Pieces(PreTokenizer.ForName(pre, out _), text));

    [Fact]
    public void Astral_letters_are_letters_unlike_dotnet_regex()
    {
        const string text = "x𝔘𝔫𝔦 y";
        Assert.Equal(["x𝔘𝔫𝔦", " y"], Pieces(PreTokenizer.ForName("gpt-2", out _), text));
        Assert.NotEqual(["x𝔘𝔫𝔦", " y"], RegexPieces(new Regex(Gpt2), text));
    }

    [Fact]
    public void Characters_new_in_unicode_16_are_unassigned_as_in_llama_cpp()
    {
        // U+1C89 CYRILLIC CAPITAL LETTER TJE (Unicode 16.0): llama.cpp's 15.1 tables have no category for it
        Assert.Equal(Unicode.Undefined, Unicode.Flags(0x1C89));
        Assert.Equal(Unicode.Letter, Unicode.Flags(0x1C88));
        Assert.Equal(["a", "\u1C89", "b"], Pieces(PreTokenizer.ForName("gpt-2", out _), "a\u1C89b"));
    }

    private static List<string> Pieces(PreTokenizer pre, string text)
    {
        int[] cps = [.. EnumerateCodePoints(text)];
        var lengths = new List<int>();
        pre.Split(cps, lengths, []);
        var result = new List<string>();
        int at = 0;
        foreach (int len in lengths)
        {
            result.Add(string.Concat(cps.Skip(at).Take(len).Select(char.ConvertFromUtf32)));
            at += len;
        }
        return result;
    }

    private static IEnumerable<int> EnumerateCodePoints(string s)
    {
        for (int i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1)
            yield return char.ConvertToUtf32(s, i);
    }

    private static List<string> RegexPieces(Regex regex, string text)
    {
        var result = new List<string>();
        int prev = 0;
        foreach (Match m in regex.Matches(text))
        {
            if (m.Index > prev)
                result.Add(text[prev..m.Index]);
            result.Add(m.Value);
            prev = m.Index + m.Length;
        }
        if (prev < text.Length)
            result.Add(text[prev..]);
        return result;
    }
}
