using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

public sealed class ModelQuantizerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-quant-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Every quantized fixture was written by llama-quantize from the f32 file; our output must be the same file.
    public static TheoryData<string, string, bool, string> LlamaQuantizeRuns() => new()
    {
        { "tiny-llama-f32.gguf", "q4_k_m", false, "tiny-llama-q4_k_m.gguf" },
        { "tiny-llama-f32.gguf", "q4_0", true, "tiny-llama-q4_0.gguf" },
        { "tiny-llama-f32.gguf", "q4_1", true, "tiny-llama-q4_1.gguf" },
        { "tiny-llama-f32.gguf", "q5_0", true, "tiny-llama-q5_0.gguf" },
        { "tiny-llama-f32.gguf", "q5_1", true, "tiny-llama-q5_1.gguf" },
        { "tiny-llama-f32.gguf", "q8_0", true, "tiny-llama-q8_0.gguf" },
        { "tiny-llama-f32.gguf", "q2_k", true, "tiny-llama-q2_k.gguf" },
        { "tiny-llama-f32.gguf", "q3_k_m", true, "tiny-llama-q3_k.gguf" },
        { "tiny-llama-f32.gguf", "q5_k_m", true, "tiny-llama-q5_k.gguf" },
        { "tiny-llama-f32.gguf", "q6_k", true, "tiny-llama-q6_k.gguf" },
        { "tiny-llama-f32.gguf", "f16", true, "tiny-llama-f16.gguf" },
        { "tiny-llama-f32.gguf", "iq4_nl", true, "tiny-llama-iq4_nl.gguf" },
        { "tiny-llama-f32.gguf", "iq4_xs", true, "tiny-llama-iq4_xs.gguf" },
        { "tiny-qwen3moe-f32.gguf", "q8_0", true, "tiny-qwen3moe-q8_0.gguf" },
        { "fathom-code-5m-f32.gguf", "q4_k_m", false, "fathom-code-5m-q4_k_m.gguf" },
        { "fathom-code-5m-f32.gguf", "q8_0", false, "fathom-code-5m-q8_0.gguf" },
    };

    [Theory]
    [MemberData(nameof(LlamaQuantizeRuns))]
    public void Output_file_is_byte_identical_to_llama_quantize(string source, string type, bool pure, string expected)
    {
        Assert.True(QuantRecipe.TryParse(type, out var ftype));
        string output = Path.Combine(_dir, expected);
        using (var input = GgufFile.Open(Fixtures.Model(source)))
            ModelQuantizer.Quantize(input, output, new ModelQuantizeOptions(ftype, pure), cancellationToken: TestContext.Current.CancellationToken);
        byte[] actual = File.ReadAllBytes(output);
        byte[] wanted = File.ReadAllBytes(Fixtures.Model(expected));
        int first = actual.AsSpan().CommonPrefixLength(wanted);
        Assert.True(first == wanted.Length && actual.Length == wanted.Length,
            $"{expected}: {actual.Length} bytes vs {wanted.Length}; first difference at byte {first}");
    }

    [Fact]
    public void Pure_type_that_does_not_divide_the_rows_is_a_typed_error()
    {
        using var input = GgufFile.FromBytes(QuantRecipeTests.SyntheticModel(2, 4, 2, oddColumns: true));
        string output = Path.Combine(_dir, "odd.gguf");
        var ex = Assert.Throws<InvalidDataException>(() => ModelQuantizer.Quantize(input, output, new ModelQuantizeOptions(QuantFileType.Q4_K_M, Pure: true), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("blk.0.odd.weight", ex.Message);
        Assert.False(File.Exists(output));
        var plan = ModelQuantizer.Quantize(input, output, new ModelQuantizeOptions(QuantFileType.Q4_K_M), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(plan, p => p.Source.Name == "blk.0.odd.weight" && p.Target == GgmlType.Q5_0);
        using var result = GgufFile.Open(output);
        Assert.Equal(GgmlType.Q5_0, result.GetTensor("blk.0.odd.weight").Type);
    }

    [Fact]
    public void Quantized_input_is_refused_unless_requantize_is_allowed()
    {
        using var input = GgufFile.Open(Fixtures.Model("tiny-llama-q8_0.gguf"));
        string output = Path.Combine(_dir, "re.gguf");
        var ex = Assert.Throws<InvalidDataException>(() => ModelQuantizer.Quantize(input, output, new ModelQuantizeOptions(QuantFileType.Q4_0, Pure: true), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("q8_0", ex.Message);
        Assert.False(File.Exists(output));
        var plan = ModelQuantizer.Quantize(input, output, new ModelQuantizeOptions(QuantFileType.Q4_0, Pure: true, AllowRequantize: true), cancellationToken: TestContext.Current.CancellationToken);
        using var result = GgufFile.Open(output);
        Assert.Equal(GgmlType.Q4_0, result.GetTensor("blk.0.attn_q.weight").Type);
        Assert.Equal((uint)QuantFileType.Q4_0, result.GetUInt32(GgufKeys.General.FileType));
        Assert.Equal(plan.Count, result.Tensors.Count);
    }
}
