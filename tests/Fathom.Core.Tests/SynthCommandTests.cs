using Fathom.Gguf;

namespace Fathom.Tests;

public class SynthCommandTests
{
    private static string TempPath() => Path.Combine(Path.GetTempPath(), $"fathom-synth-{Guid.NewGuid():N}.gguf");

    [Fact]
    public void Writes_a_model_that_inspect_describes()
    {
        string output = TempPath();
        try
        {
            var (exit, stdout, stderr) = InspectCommandTests.RunCli(
                "synth", "--arch", "qwen3", "--layers", "2", "--embd", "64", "--heads", "4", "--kv-heads", "2", "--ff", "128",
                "--experts", "4", "--experts-used", "2", "--head-dim", "32", "--vocab-from", Fixtures.Model("tiny-qwen3-f32.gguf"),
                "--type", "f16", "--seed", "5", "-o", output);
            Assert.True(exit == 0, stderr);
            Assert.Contains("qwen3moe", stdout);
            Assert.False(File.Exists(output + ".partial"));
            using (var f = GgufFile.Open(output))
            {
                Assert.Equal("qwen3moe", f.GetString(GgufKeys.General.Architecture));
                Assert.Equal(2u, f.GetUInt32(GgufKeys.Llm.BlockCount("qwen3moe")));
                Assert.Equal(32u, f.GetUInt32(GgufKeys.Attention.KeyLength("qwen3moe")));
                Assert.Equal([64L, 128, 4], f.GetTensor("blk.1.ffn_up_exps.weight").Shape);
                Assert.Equal(GgmlType.F16, f.GetTensor("blk.1.ffn_up_exps.weight").Type);
                Assert.Equal([32L], f.GetTensor("blk.0.attn_k_norm.weight").Shape);
            }

            var (inspectExit, text, _) = InspectCommandTests.RunCli("inspect", output);
            Assert.Equal(0, inspectExit);
            Assert.Contains("blk.1.ffn_gate_inp.weight", text);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void Same_seed_gives_the_same_file()
    {
        string a = TempPath(), b = TempPath();
        try
        {
            foreach (string path in new[] { a, b })
            {
                var (exit, _, stderr) = InspectCommandTests.RunCli("synth", "--arch", "llama", "--layers", "1", "--embd", "32", "--heads", "2", "--kv-heads", "1",
                    "--ff", "64", "--vocab-from", Fixtures.Model("tiny-llama-f32.gguf"), "--type", "f32", "--seed", "99", "-o", path);
                Assert.True(exit == 0, stderr);
            }
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        }
        finally
        {
            File.Delete(a);
            File.Delete(b);
        }
    }

    [Theory]
    [InlineData("--heads", "3", "multiple of kv heads")]
    [InlineData("--type", "q4_0", "not supported")]
    [InlineData("--type", "f8", "unknown --type")]
    [InlineData("--arch", "gpt2", "Unknown architecture")]
    [InlineData("--vocab-from", "/nonexistent/vocab.gguf", "vocab.gguf")]
    [InlineData("--layers", "0", "layers must be at least 1")]
    public void Bad_options_are_one_line_on_stderr_and_exit_2(string option, string value, string message)
    {
        string output = TempPath();
        var args = new Dictionary<string, string>
        {
            ["--arch"] = "llama", ["--layers"] = "1", ["--embd"] = "32", ["--heads"] = "2", ["--kv-heads"] = "2", ["--ff"] = "64",
            ["--vocab-from"] = Fixtures.Model("tiny-llama-f32.gguf"), ["--type"] = "f32", ["-o"] = output,
        };
        args[option] = value;
        var (exit, stdout, stderr) = InspectCommandTests.RunCli(["synth", .. args.SelectMany(kv => new[] { kv.Key, kv.Value })]);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains(message, stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Vocab_without_tokens_is_refused()
    {
        string vocab = TempPath();
        string output = TempPath();
        try
        {
            var w = new GgufWriter();
            w.Add(GgufKeys.General.Architecture, GgufValue.Of("llama"));
            w.WriteTo(vocab, null, TestContext.Current.CancellationToken);
            var (exit, _, stderr) = InspectCommandTests.RunCli("synth", "--arch", "llama", "--layers", "1", "--embd", "32", "--heads", "2", "--kv-heads", "2",
                "--ff", "64", "--vocab-from", vocab, "-o", output);
            Assert.Equal(2, exit);
            Assert.Contains("tokenizer.ggml.tokens", stderr);
            Assert.False(File.Exists(output));
        }
        finally
        {
            File.Delete(vocab);
        }
    }
}
