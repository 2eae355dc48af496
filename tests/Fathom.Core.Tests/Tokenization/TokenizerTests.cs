using System.Text;
using System.Text.Json;
using Fathom.Gguf;
using Fathom.Tokenization;

namespace Fathom.Tests.Tokenization;

public class TokenizerTests
{
    public static TheoryData<string, string> CaseFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var (vocab, suffix) in VocabFixtures.CaseFiles())
            data.Add(vocab, suffix);
        return data;
    }

    public static TheoryData<string> Vocabs()
    {
        var data = new TheoryData<string>();
        foreach (string v in VocabFixtures.VocabNames())
            data.Add(v);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseFiles))]
    public void Encodes_every_case_as_llama_cpp(string vocab, string suffix)
    {
        var tok = VocabFixtures.Load(vocab);
        string basePath = Path.Combine(Fixtures.Vocab, vocab + suffix);
        var inputs = VocabFixtures.ReadInputs(basePath + ".inp");
        var expected = VocabFixtures.ReadOutputs(basePath + ".out");
        Assert.Equal(inputs.Count, expected.Count);
        bool parseSpecial = suffix == ".extra-special";
        var failures = new List<string>();
        for (int i = 0; i < inputs.Count; i++)
        {
            int[] ids = tok.Encode(inputs[i], addSpecial: false, parseSpecial: parseSpecial);
            if (!ids.AsSpan().SequenceEqual(expected[i]))
                failures.Add($"case {i} {JsonSerializer.Serialize(Encoding.UTF8.GetString(inputs[i]))}:\n  expected [{string.Join(' ', expected[i])}]\n  actual   [{string.Join(' ', ids)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count}/{inputs.Count} cases differ:\n{string.Join('\n', failures)}");
    }
}
