using System.CommandLine;
using System.Text.Json;
using Fathom.Cli;
using Fathom.Cli.Commands;
using Fathom.Gguf;

namespace Fathom.Tests;

public class InspectCommandTests
{
    internal static (int Exit, string Out, string Err) RunCli(params string[] args)
    {
        var root = CommandCatalog.CreateRoot();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = CliHost.Run(root, args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static JsonElement InspectJson(string path)
    {
        var (exit, output, error) = RunCli("inspect", path, "--json");
        Assert.True(exit == 0, error);
        Assert.Equal("", error);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    /// <summary>Facts from the models README table: arch, tensor types (count), embd, layers, heads, kv heads, ff, vocab, bytes.</summary>
    public static TheoryData<string, string, string, int, int, int, int, int, int, long> TinyModels() => new()
    {
        { "tiny-llama-f16.gguf", "llama", "F16 16, F32 5", 256, 2, 4, 2, 768, 512, 3688352 },
        { "tiny-llama-f32.gguf", "llama", "F32 21", 256, 2, 4, 2, 768, 512, 7358368 },
        { "tiny-llama-iq4_nl.gguf", "llama", "F32 5, IQ4_NL 16", 256, 2, 4, 2, 768, 512, 1050528 },
        { "tiny-llama-iq4_xs.gguf", "llama", "F32 5, IQ4_XS 16", 256, 2, 4, 2, 768, 512, 993184 },
        { "tiny-llama-q2_k.gguf", "llama", "F32 5, Q2_K 16", 256, 2, 4, 2, 768, 512, 620448 },
        { "tiny-llama-q3_k.gguf", "llama", "F32 5, Q3_K 16", 256, 2, 4, 2, 768, 512, 806816 },
        { "tiny-llama-q4_0.gguf", "llama", "F32 5, Q4_0 16", 256, 2, 4, 2, 768, 512, 1050528 },
        { "tiny-llama-q4_1.gguf", "llama", "F32 5, Q4_1 16", 256, 2, 4, 2, 768, 512, 1165216 },
        { "tiny-llama-q4_k_m.gguf", "llama", "F32 5, Q4_K 13, Q6_K 3", 256, 2, 4, 2, 768, 512, 1143456 },
        { "tiny-llama-q5_0.gguf", "llama", "F32 5, Q5_0 16", 256, 2, 4, 2, 768, 512, 1279904 },
        { "tiny-llama-q5_1.gguf", "llama", "F32 5, Q5_1 16", 256, 2, 4, 2, 768, 512, 1394592 },
        { "tiny-llama-q5_k.gguf", "llama", "F32 5, Q5_K 16", 256, 2, 4, 2, 768, 512, 1279904 },
        { "tiny-llama-q6_k.gguf", "llama", "F32 5, Q6_K 16", 256, 2, 4, 2, 768, 512, 1523616 },
        { "tiny-llama-q8_0.gguf", "llama", "F32 5, Q8_0 16", 256, 2, 4, 2, 768, 512, 1968032 },
        { "tiny-llama-rope-f32.gguf", "llama", "F32 22", 256, 2, 4, 2, 768, 512, 7358560 },
        { "tiny-llama-rope-q8_0.gguf", "llama", "F32 6, Q8_0 16", 256, 2, 4, 2, 768, 512, 1968224 },
        { "tiny-qwen2-f32.gguf", "qwen2", "F32 26", 256, 2, 4, 2, 768, 512, 6838496 },
        { "tiny-qwen2-q8_0.gguf", "qwen2", "F32 11, Q8_0 15", 256, 2, 4, 2, 768, 512, 1833184 },
        { "tiny-qwen3-f32.gguf", "qwen3", "F32 24", 256, 2, 4, 2, 768, 512, 6835360 },
        { "tiny-qwen3-q8_0.gguf", "qwen3", "F32 9, Q8_0 15", 256, 2, 4, 2, 768, 512, 1830048 },
        { "tiny-qwen3moe-f32.gguf", "qwen3moe", "F32 27", 128, 2, 4, 2, 256, 512, 7627872 },
        { "tiny-qwen3moe-q8_0.gguf", "qwen3moe", "F32 11, Q8_0 16", 128, 2, 4, 2, 256, 512, 2045024 },
    };

    [Theory]
    [MemberData(nameof(TinyModels))]
    public void Json_describes_tiny_model_as_its_readme_says(string file, string arch, string types, int embd, int layers, int heads, int kvHeads, int ff, int vocab, long bytes)
    {
        string path = Fixtures.Model(file);
        var j = InspectJson(path);
        Assert.Equal(arch, j.GetProperty("architecture").GetString());
        Assert.Equal(bytes, j.GetProperty("fileSize").GetInt64());
        string typeText = string.Join(", ", j.GetProperty("tensorTypes").EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => $"{p.Name} {p.Value.GetInt32()}"));
        Assert.Equal(types, typeText);
        var h = j.GetProperty("hyperparameters");
        Assert.Equal(embd, h.GetProperty($"{arch}.embedding_length").GetInt32());
        Assert.Equal(layers, h.GetProperty($"{arch}.block_count").GetInt32());
        Assert.Equal(heads, h.GetProperty($"{arch}.attention.head_count").GetInt32());
        Assert.Equal(kvHeads, h.GetProperty($"{arch}.attention.head_count_kv").GetInt32());
        bool moe = h.TryGetProperty($"{arch}.expert_count", out _);
        Assert.Equal(ff, h.GetProperty(moe ? $"{arch}.expert_feed_forward_length" : $"{arch}.feed_forward_length").GetInt32());
        var tok = j.GetProperty("tokenizer");
        Assert.Equal(vocab, tok.GetProperty("vocabSize").GetInt32());
        Assert.Equal("gpt2", tok.GetProperty("model").GetString());
        Assert.Equal(arch == "llama" ? "gpt-2" : "qwen2", tok.GetProperty("pre").GetString());
        Assert.Equal(253, tok.GetProperty("mergeCount").GetInt32());
        Assert.False(tok.GetProperty("chatTemplate").GetBoolean());
        var special = tok.GetProperty("specialTokens").EnumerateArray().ToDictionary(e => e.GetProperty("role").GetString()!, e => (e.GetProperty("id").GetInt64(), e.GetProperty("text").GetString()));
        Assert.Equal((510L, "<|begin_of_text|>"), special["bos"]);
        Assert.Equal((511L, "<|end_of_text|>"), special["eos"]);
        Assert.Equal((509L, "<|pad|>"), special["padding"]);

        // token_embd is [embd, vocab] in every file; the untied/tied output follows the README.
        var tensors = j.GetProperty("tensors").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.Equal([embd, vocab], tensors["token_embd.weight"].GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(arch is "qwen2" or "qwen3", !tensors.ContainsKey("output.weight"));
        AssertInvariants(path, j);
    }

    [Theory]
    [InlineData("fathom-code-5m-f32.gguf", 20586368)]
    [InlineData("fathom-code-5m-q8_0.gguf", 5570464)]
    [InlineData("fathom-code-5m-q4_k_m.gguf", 3394720)]
    public void Json_describes_fathom_code(string file, long bytes)
    {
        string path = Fixtures.Model(file);
        var j = InspectJson(path);
        Assert.Equal("llama", j.GetProperty("architecture").GetString());
        Assert.Equal(bytes, j.GetProperty("fileSize").GetInt64());
        Assert.Equal(39, j.GetProperty("tensorCount").GetInt32());
        // Norms are 1-D and never quantized: 4 layers × 2 + output_norm.
        int f32 = j.GetProperty("tensorTypes").GetProperty("F32").GetInt32();
        Assert.Equal(file.Contains("f32", StringComparison.Ordinal) ? 39 : 9, f32);
        var h = j.GetProperty("hyperparameters");
        Assert.Equal(256, h.GetProperty("llama.embedding_length").GetInt32());
        Assert.Equal(4, h.GetProperty("llama.block_count").GetInt32());
        Assert.Equal(8, h.GetProperty("llama.attention.head_count").GetInt32());
        Assert.Equal(2, h.GetProperty("llama.attention.head_count_kv").GetInt32());
        Assert.Equal(4096, j.GetProperty("tokenizer").GetProperty("vocabSize").GetInt32());
        var special = j.GetProperty("tokenizer").GetProperty("specialTokens").EnumerateArray().ToDictionary(e => e.GetProperty("role").GetString()!, e => e.GetProperty("text").GetString());
        Assert.Equal("<|bos|>", special["bos"]);
        Assert.Equal("<|eos|>", special["eos"]);
        AssertInvariants(path, j);
    }

    public static TheoryData<string> VocabFiles()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.GetFiles(Fixtures.Vocab, "*.gguf").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(VocabFiles))]
    public void Json_describes_vocab_file_as_vocab_info_says(string file)
    {
        using var info = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Vocab, "vocab-info.json")));
        var expected = info.RootElement.GetProperty(file).GetProperty("gguf");
        string path = Path.Combine(Fixtures.Vocab, file);
        var j = InspectJson(path);
        Assert.Equal(expected.GetProperty("arch").GetString(), j.GetProperty("architecture").GetString());
        Assert.Equal(0, j.GetProperty("tensorCount").GetInt32());
        var tok = j.GetProperty("tokenizer");
        Assert.Equal(expected.GetProperty("model").GetString(), tok.GetProperty("model").GetString());
        Assert.Equal(expected.GetProperty("pre").ValueKind == JsonValueKind.Null ? null : expected.GetProperty("pre").GetString(), tok.GetProperty("pre").GetString());
        Assert.Equal(expected.GetProperty("n_tokens").GetInt32(), tok.GetProperty("vocabSize").GetInt32());
        int merges = expected.GetProperty("n_merges").GetInt32();
        Assert.Equal(merges, tok.GetProperty("mergeCount").ValueKind == JsonValueKind.Null ? 0 : tok.GetProperty("mergeCount").GetInt32());
        Assert.Equal(expected.GetProperty("chat_template").GetBoolean(), tok.GetProperty("chatTemplate").GetBoolean());
        var special = tok.GetProperty("specialTokens").EnumerateArray().ToDictionary(e => e.GetProperty("role").GetString()!);
        foreach (var (role, key) in new[] { ("bos", "bos"), ("eos", "eos"), ("eot", "eot"), ("padding", "padding"), ("unknown", "unknown") })
        {
            if (!expected.TryGetProperty(key, out var pair))
                continue;
            Assert.Equal(pair[0].GetInt64(), special[role].GetProperty("id").GetInt64());
            Assert.Equal(pair[1].GetString(), special[role].GetProperty("text").GetString());
        }
        AssertInvariants(path, j);
    }

    /// <summary>What must hold for any file: totals agree with the reader, the text output lists every tensor.</summary>
    private static void AssertInvariants(string path, JsonElement j)
    {
        using var f = GgufFile.Open(path);
        Assert.Equal("fathom.inspect/1", j.GetProperty("schema").GetString());
        Assert.Equal(new FileInfo(path).Length, j.GetProperty("fileSize").GetInt64());
        Assert.Equal((int)f.Version, j.GetProperty("ggufVersion").GetInt32());
        Assert.Equal(f.Metadata.Count, j.GetProperty("metadataCount").GetInt32());
        var tensors = j.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(f.Tensors.Count, tensors.Count);
        Assert.Equal(f.Tensors.Count, j.GetProperty("tensorCount").GetInt32());
        Assert.Equal(f.Tensors.Count, j.GetProperty("tensorTypes").EnumerateObject().Sum(p => p.Value.GetInt32()));
        long elements = 0, bytes = 0;
        foreach (var t in tensors)
        {
            var shape = t.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            long n = shape.Aggregate(1L, (a, b) => a * b);
            Assert.Equal(n, t.GetProperty("elements").GetInt64());
            Assert.True(GgmlTypeInfo.TryParse(t.GetProperty("type").GetString()!, out var type));
            long size = t.GetProperty("bytes").GetInt64();
            Assert.Equal(GgmlTypeInfo.RowSize(type, shape[0]) * (n / shape[0]), size);
            long offset = t.GetProperty("offset").GetInt64();
            Assert.InRange(offset + size, 0, j.GetProperty("fileSize").GetInt64());
            elements += n;
            bytes += size;
        }
        Assert.Equal(elements, j.GetProperty("parameterCount").GetInt64());
        Assert.Equal(bytes, j.GetProperty("tensorBytes").GetInt64());
        if (elements > 0)
            Assert.Equal(Math.Round(bytes * 8.0 / elements, 4), j.GetProperty("bitsPerWeight").GetDouble());
        else
            Assert.Equal(JsonValueKind.Null, j.GetProperty("bitsPerWeight").ValueKind);
        string arch = j.GetProperty("architecture").GetString()!;
        Assert.All(j.GetProperty("hyperparameters").EnumerateObject(), p => Assert.StartsWith(arch + ".", p.Name));
        Assert.Equal(f.Metadata.Count(kv => kv.Key.StartsWith(arch + ".", StringComparison.Ordinal)), j.GetProperty("hyperparameters").EnumerateObject().Count());

        var (exit, text, error) = RunCli("inspect", path);
        Assert.Equal(0, exit);
        Assert.Equal("", error);
        Assert.Contains($"architecture  ", text);
        foreach (var t in f.Tensors)
            Assert.Contains(t.Name, text);
        Assert.Contains(j.GetProperty("parameterCount").GetInt64().ToString("N0", System.Globalization.CultureInfo.InvariantCulture), text);
    }

    [Fact]
    public void Missing_file_is_one_line_on_stderr_and_exit_2()
    {
        var (exit, output, error) = RunCli("inspect", Path.Combine(Path.GetTempPath(), "no-such-model.gguf"));
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.Contains("no-such-model.gguf", error);
        Assert.DoesNotContain(" at ", error);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { (byte)'G', (byte)'G', (byte)'U', (byte)'F', 9, 0, 0, 0 })]
    [InlineData(new byte[] { (byte)'G', (byte)'G', (byte)'U', (byte)'F', 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    public void Malformed_file_is_one_line_on_stderr_and_exit_2(byte[] content)
    {
        string path = Path.Combine(Path.GetTempPath(), $"fathom-inspect-{Guid.NewGuid():N}.gguf");
        try
        {
            File.WriteAllBytes(path, content);
            foreach (string[] args in new[] { new[] { "inspect", path }, new[] { "inspect", path, "--json" } })
            {
                var (exit, output, error) = RunCli(args);
                Assert.Equal(2, exit);
                Assert.Equal("", output);
                Assert.Single(error.TrimEnd().Split('\n'));
                Assert.Contains("malformed GGUF at byte", error);
                Assert.DoesNotContain(" at Fathom", error);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Directory_is_one_line_on_stderr_and_exit_2()
    {
        var (exit, _, error) = RunCli("inspect", Path.GetTempPath());
        Assert.Equal(2, exit);
        Assert.Single(error.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Missing_argument_is_a_usage_error()
    {
        var (exit, _, error) = RunCli("inspect");
        Assert.Equal(2, exit);
        Assert.StartsWith("fathom:", error);
    }
}
