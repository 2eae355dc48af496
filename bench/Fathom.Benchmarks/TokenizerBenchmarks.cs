using System.Text;
using BenchmarkDotNet.Attributes;
using Fathom.Gguf;
using Fathom.Tokenization;

namespace Fathom.Benchmarks;

/// <summary>
/// Tokenizer throughput (bytes of input per second) per vocabulary and input class. English: the prose lines
/// (comments, docstrings) of the held-out stdlib text; code: that text itself; CJK: a Chinese paragraph repeated;
/// blob: random base64 with no spaces. Each input is about 256 KB.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private const int Size = 256 * 1024;
    private const string Chinese =
        "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。" +
        "该领域的研究包括机器人、语言识别、图像识别、自然语言处理和专家系统等。自从诞生以来，理论和技术日益成熟，应用领域也不断扩大。";

    private Tokenizer _tokenizer = null!;
    private string _text = "";

    [Params("llama-bpe", "qwen2", "llama-spm")]
    public string Vocab { get; set; } = "";

    [Params("english", "code", "cjk", "blob")]
    public string Input { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        using var gguf = GgufFile.Open(BenchPaths.Fixture("vocab", $"ggml-vocab-{Vocab}.gguf"));
        _tokenizer = Tokenizer.FromGguf(gguf);
        _text = MakeInput(Input);
        _tokenizer.Encode(_text, addSpecial: false);
    }

    internal static string MakeInput(string kind)
    {
        string code = File.ReadAllText(BenchPaths.Fixture("text", "stdlib-128k.txt"));
        string text = kind switch
        {
            "code" => code,
            "english" => string.Join('\n', code.Split('\n').Select(l => l.Trim().TrimStart('#').Trim())
                .Where(l => l.Length > 30 && l.Count(c => char.IsLetter(c) || c == ' ') > l.Length * 0.9)),
            "cjk" => string.Concat(Enumerable.Repeat(Chinese, Size / Encoding.UTF8.GetByteCount(Chinese) + 1)),
            _ => Base64(Size),
        };
        while (Encoding.UTF8.GetByteCount(text) < Size)
            text += text;
        return TrimToBytes(text, Size);
    }

    private static string Base64(int bytes)
    {
        var data = new byte[bytes * 3 / 4];
        new Random(42).NextBytes(data);
        return Convert.ToBase64String(data);
    }

    private static string TrimToBytes(string s, int bytes)
    {
        int chars = Math.Min(s.Length, bytes);
        while (Encoding.UTF8.GetByteCount(s.AsSpan(0, chars)) > bytes)
            chars--;
        if (chars > 0 && char.IsHighSurrogate(s[chars - 1]))
            chars--;
        return s[..chars];
    }

    /// <summary>Input bytes per operation, for converting the mean time to MB/s.</summary>
    public int InputBytes => Encoding.UTF8.GetByteCount(_text);

    [Benchmark]
    public int Encode() => _tokenizer.Encode(_text, addSpecial: false).Length;
}
