using System.Text;

namespace Fathom.Tests.Tokenization;

/// <summary>Builds minimal in-memory GGUF images with a tokenizer, for loader error tests.</summary>
internal static class TinyGguf
{
    public static byte[] Bpe(string pre, string model = "gpt2")
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(0x46554747u);
        w.Write(3u);
        w.Write(0UL);
        w.Write(5UL);
        Str(w, "general.architecture", "llama");
        Str(w, "tokenizer.ggml.model", model);
        Str(w, "tokenizer.ggml.pre", pre);
        StrArray(w, "tokenizer.ggml.tokens", ["a", "b", "c", "ab"]);
        StrArray(w, "tokenizer.ggml.merges", ["x y"]);
        return ms.ToArray();
    }

    private static void Key(BinaryWriter w, string key)
    {
        byte[] b = Encoding.UTF8.GetBytes(key);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    private static void Str(BinaryWriter w, string key, string value)
    {
        Key(w, key);
        w.Write(8u);
        Key(w, value);
    }

    private static void StrArray(BinaryWriter w, string key, string[] values)
    {
        Key(w, key);
        w.Write(9u);
        w.Write(8u);
        w.Write((ulong)values.Length);
        foreach (string v in values)
            Key(w, v);
    }
}
