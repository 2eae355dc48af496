using Fathom.Context;
using Fathom.Gguf;
using Fathom.Tokenization;

namespace Fathom.Engine.Tests;

/// <summary>Locates ../shared/fixtures (beside the repository root) from the test's working directory.</summary>
internal static class Fixtures
{
    private static readonly Lazy<Tokenizer> LlamaBpe = new(() => Load("ggml-vocab-llama-bpe.gguf"));
    private static readonly Lazy<Tokenizer> LlamaSpm = new(() => Load("ggml-vocab-llama-spm.gguf"));

    public static string Root => TestSupport.FixturePaths.Fixtures;

    public static string Vocab(string name) => Path.Combine(Root, "vocab", name);

    public static string Model(string name) => Path.Combine(Root, "models", name);

    /// <summary>A real tokenizer (llama-bpe) as the token counter budgets are checked with.</summary>
    public static ITokenCounter Counter => new TokenizerCounter(LlamaBpe.Value);

    /// <summary>A SentencePiece tokenizer, whose merges cross piece boundaries freely.</summary>
    public static ITokenCounter SpmCounter => new TokenizerCounter(LlamaSpm.Value);

    /// <summary>The repository root (the folder holding Fathom.slnx).</summary>
    public static string Repository => TestSupport.FixturePaths.Repository;

    private static Tokenizer Load(string name)
    {
        using var gguf = GgufFile.Open(Vocab(name));
        return Tokenizer.FromGguf(gguf);
    }
}

/// <summary>A temporary directory tree, deleted on dispose.</summary>
internal sealed class TempTree : IDisposable
{
    public TempTree()
    {
        Root = Path.Combine(Path.GetTempPath(), "fathom-ctx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public TempTree Write(string relative, string content)
    {
        string full = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return this;
    }

    public TempTree WriteBytes(string relative, byte[] content)
    {
        string full = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
        return this;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Counts tokens as whitespace-separated words: a stand-in where the exact tokenizer does not matter.</summary>
internal sealed class WordCounter : ITokenCounter
{
    public int CountTokens(string text) => text.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Length;
}
