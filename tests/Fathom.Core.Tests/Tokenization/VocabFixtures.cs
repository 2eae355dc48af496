using System.Collections.Concurrent;
using System.Text;
using Fathom.Gguf;
using Fathom.Tokenization;

namespace Fathom.Tests.Tokenization;

/// <summary>The vocab-only GGUFs in ../shared/fixtures/vocab and their test cases, parsed as test-tokenizer-0 does.</summary>
internal static class VocabFixtures
{
    private static readonly byte[] Separator = Encoding.ASCII.GetBytes("\n__ggml_vocab_test__\n");
    private static readonly ConcurrentDictionary<string, Tokenizer> Cache = new();

    public static IEnumerable<string> VocabNames() => Directory.GetFiles(Fixtures.Vocab, "ggml-vocab-*.gguf")
        .Select(Path.GetFileName).Select(n => n!).Order(StringComparer.Ordinal);

    /// <summary>Every (vocab, case-file suffix) pair present: ".inp", ".extra.inp", ".extra-special.inp".</summary>
    public static IEnumerable<(string Vocab, string Suffix)> CaseFiles()
    {
        foreach (string vocab in VocabNames())
            foreach (string suffix in (string[])["", ".extra", ".extra-special"])
                if (File.Exists(Path.Combine(Fixtures.Vocab, vocab + suffix + ".inp")))
                    yield return (vocab, suffix);
    }

    public static Tokenizer Load(string vocab) => Cache.GetOrAdd(vocab, v =>
    {
        using var f = GgufFile.Open(Path.Combine(Fixtures.Vocab, v));
        return Tokenizer.FromGguf(f);
    });

    public static List<byte[]> ReadInputs(string path)
    {
        byte[] all = File.ReadAllBytes(path);
        var cases = new List<byte[]>();
        int pos = 0;
        while (pos < all.Length)
        {
            int at = all.AsSpan(pos).IndexOf(Separator);
            if (at < 0)
                throw new InvalidDataException($"{path}: text after the last separator");
            cases.Add(all.AsSpan(pos, at).ToArray());
            pos += at + Separator.Length;
        }
        return cases;
    }

    public static List<int[]> ReadOutputs(string path)
    {
        string all = File.ReadAllText(path, Encoding.ASCII);
        if (all.EndsWith('\n'))
            all = all[..^1];
        return [.. all.Split('\n').Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())];
    }
}
