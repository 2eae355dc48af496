using System.Runtime.InteropServices;
using System.Text.Json;
using Fathom.Models;

namespace Fathom.Tests.Models;

public class ActivationTapTests
{
    public static TheoryData<string> HiddenGoldens => new("tiny-llama-f32");

    /// <summary>Every named intermediate of the prompt batch against llama.cpp's eval-callback dump.</summary>
    [Theory]
    [MemberData(nameof(HiddenGoldens))]
    public void Intermediates_match_llama_cpp_hidden_dump(string name)
    {
        var golden = Golden.Load(name);
        var data = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(Fixtures.Golden, name + ".hidden.f32"))).ToArray();
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Golden, name + ".hidden.json")));

        var captured = new Dictionary<string, List<float[]>>();
        using var model = Model.Load(golden.ModelPath);
        var session = model.CreateSession(64);
        session.Tap = (tensor, values, width) =>
        {
            if (!captured.TryGetValue(tensor, out var list))
                captured[tensor] = list = [];
            list.Add(values.ToArray());
        };
        session.Forward(golden.PromptTokens, allLogits: true);

        int compared = 0;
        var report = new List<string>();
        foreach (var entry in index.RootElement.EnumerateArray())
        {
            string tensor = entry.GetProperty("name").GetString()!;
            string op = entry.GetProperty("op").GetString()!;
            if (op == "RESHAPE")
                continue; // a view of the previous occurrence; not emitted separately
            int occurrence = entry.GetProperty("occurrence").GetInt32();
            int mine = occurrence == 0 ? 0 : 1; // occurrence 2 (after RoPE) is our second emission
            Assert.True(captured.TryGetValue(tensor, out var list) && list.Count > mine, $"tap did not emit {tensor} #{occurrence}");
            var expected = data.AsSpan((int)(entry.GetProperty("offset").GetInt64() / 4), entry.GetProperty("n_elements").GetInt32());
            var actual = list[mine];
            Assert.Equal(expected.Length, actual.Length);
            double max = 0, scale = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
                scale = Math.Max(scale, Math.Abs(expected[i]));
            }
            report.Add($"{tensor}#{occurrence}: max {max:E2} of {scale:F2}");
            // Layer 0 before attention is exact to float rounding; later values carry f16 flips from the cache.
            double bound = tensor.EndsWith("-0", StringComparison.Ordinal) && !tensor.StartsWith("kqv", StringComparison.Ordinal)
                && !tensor.StartsWith("ffn", StringComparison.Ordinal) && !tensor.StartsWith("l_out", StringComparison.Ordinal)
                ? 1e-5 : 2e-3;
            Assert.True(max <= bound * Math.Max(1, scale), $"{tensor}#{occurrence}: max |d| {max:E2} > {bound} × {scale:F2}\n{string.Join("\n", report)}");
            compared++;
        }
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", report));
        Assert.True(compared >= 20, $"only {compared} tensors compared");
    }

    [Fact]
    public void Tap_does_not_change_logits_and_names_every_block_like_llama_cpp()
    {
        using var file = Gguf.GgufFile.FromBytes(TestGguf.RandomModel("qwen3").ToBytes());
        using var model = Model.FromGguf(file);
        int[] tokens = [1, 5, 9, 2];
        var plain = model.CreateSession(16).Forward(tokens, allLogits: true).ToArray();
        var names = new List<string>();
        var session = model.CreateSession(16);
        session.Tap = (n, v, w) =>
        {
            Assert.Equal(0, v.Length % w);
            Assert.Equal(tokens.Length, v.Length / w);
            names.Add(n);
        };
        Assert.Equal(plain, session.Forward(tokens, allLogits: true).ToArray());
        foreach (string n in new[] { "attn_norm-0", "Qcur-0", "Kcur-0", "Vcur-0", "Qcur_normed-1", "kqv_out-1", "ffn_inp-1", "ffn_norm-0", "ffn_out-1", "l_out-1", "result_norm", "result_output" })
            Assert.Contains(n, names);
        Assert.Equal(2, names.Count(n => n == "Qcur-0"));
    }
}
