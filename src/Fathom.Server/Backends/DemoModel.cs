using Fathom.Gguf;
using Fathom.Gguf.Synth;

namespace Fathom.Server.Backends;

/// <summary>
/// A tiny random-weight model with a byte-level vocabulary and ChatML special tokens, written once into
/// a cache directory so `fathom serve` works on a fresh machine. Its output is meaningless.
/// </summary>
public static class DemoModel
{
    public const string Id = "fathom-demo";

    /// <summary>Returns the demo model's path, writing it first if it is missing.</summary>
    public static string Ensure(string cacheDirectory)
    {
        Directory.CreateDirectory(cacheDirectory);
        string path = Path.Combine(cacheDirectory, Id + ".gguf");
        if (File.Exists(path))
            return path;
        using var vocab = GgufFile.FromBytes(VocabBytes());
        var options = new SynthOptions
        {
            Architecture = "llama",
            Layers = 2,
            Embedding = 64,
            Heads = 4,
            KvHeads = 2,
            FeedForward = 128,
            ContextLength = 4096,
            Type = GgmlType.F32,
            Name = Id,
        };
        ModelSynthesizer.Write(options, vocab, path);
        return path;
    }

    /// <summary>GPT-2 byte-level BPE over the 256 bytes (no merges) plus ChatML control tokens.</summary>
    private static byte[] VocabBytes()
    {
        var tokens = new List<string>(ByteLevelAlphabet());
        var types = Enumerable.Repeat(1, tokens.Count).ToList();
        foreach (string special in (string[])["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        {
            tokens.Add(special);
            types.Add(3);
        }
        var w = new GgufWriter();
        w.Add(GgufKeys.General.Architecture, GgufValue.Of("llama"));
        w.Add(GgufKeys.Tokenizer.Model, GgufValue.Of("gpt2"));
        w.Add(GgufKeys.Tokenizer.Pre, GgufValue.Of("default"));
        w.Add(GgufKeys.Tokenizer.Tokens, GgufValue.Of(GgufArray.Of(tokens.ToArray())));
        w.Add(GgufKeys.Tokenizer.TokenType, GgufValue.Of(GgufArray.Of(types.ToArray())));
        w.Add(GgufKeys.Tokenizer.Merges, GgufValue.Of(GgufArray.Of(Array.Empty<string>())));
        w.Add(GgufKeys.Tokenizer.BosId, GgufValue.Of((uint)(tokens.Count - 3)));
        w.Add(GgufKeys.Tokenizer.EosId, GgufValue.Of((uint)(tokens.Count - 1)));
        w.Add(GgufKeys.Tokenizer.AddBos, GgufValue.Of(false));
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    /// <summary>GPT-2's printable stand-ins for the 256 byte values, in byte order.</summary>
    private static IEnumerable<string> ByteLevelAlphabet()
    {
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            yield return ((char)(printable ? b : 256 + shifted++)).ToString();
        }
    }
}
