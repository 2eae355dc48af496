using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

[Trait("Category", "Kernels")]
public class QuantizeTests
{
    public static TheoryData<string> QuantizedFixtures() => new(
        "tiny-llama-f16.gguf", "tiny-llama-q4_0.gguf", "tiny-llama-q4_1.gguf", "tiny-llama-q5_0.gguf",
        "tiny-llama-q5_1.gguf", "tiny-llama-q8_0.gguf", "tiny-llama-q2_k.gguf", "tiny-llama-q3_k.gguf",
        "tiny-llama-q4_k_m.gguf", "tiny-llama-q5_k.gguf", "tiny-llama-q6_k.gguf", "tiny-llama-iq4_nl.gguf",
        "tiny-llama-iq4_xs.gguf");

    [Theory]
    [MemberData(nameof(QuantizedFixtures))]
    public void Quantizing_the_f32_fixture_gives_llama_cpp_bytes(string file)
    {
        using var f32 = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        using var quant = GgufFile.Open(Fixtures.Model(file));
        int compared = 0;
        foreach (var info in quant.Tensors)
        {
            if (info.Type == GgmlType.F32)
                continue;
            var expected = quant.View(info);
            var source = f32.GetTensor(info.Name);
            Assert.Equal(expected.Shape, source.Shape);
            var actual = new byte[expected.ByteLength];
            int written = Quantize.Row(info.Type, source.AsFloats(), actual);
            Assert.Equal(expected.ByteLength, written);
            AssertSameBytes(info.Name, expected.Bytes, actual);
            compared++;
        }
        Assert.Equal(16, compared);
    }

    private static void AssertSameBytes(string name, ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        int first = expected.CommonPrefixLength(actual);
        if (first == expected.Length && expected.Length == actual.Length)
            return;
        int diffs = 0;
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != actual[i]) diffs++;
        Assert.Fail($"{name}: {diffs} of {expected.Length} bytes differ; first at {first} (expected {expected[first]:x2}, got {actual[first]:x2}).");
    }
}
