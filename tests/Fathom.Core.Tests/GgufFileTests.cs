using Fathom.Gguf;

namespace Fathom.Tests;

public class GgufFileTests
{
    [Fact]
    public void Opens_tiny_llama_f32()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        Assert.Equal(3u, f.Version);
        Assert.Equal("llama", f.GetString(GgufKeys.General.Architecture));
        Assert.Equal(21, f.Tensors.Count);
        Assert.Equal(256u, f.GetUInt32(GgufKeys.Llm.EmbeddingLength("llama")));
        Assert.Equal(512, f.GetArray<string>(GgufKeys.Tokenizer.Tokens).Length);
        var emb = f.GetTensor("token_embd.weight");
        Assert.Equal(GgmlType.F32, emb.Type);
        Assert.Equal([256L, 512L], emb.Shape);
        Assert.Equal(256 * 512 * 4, emb.ByteLength);
    }

    [Fact]
    public void Wrong_type_names_key_expected_and_actual()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        var ex = Assert.Throws<GgufMetadataException>(() => f.GetUInt32(GgufKeys.General.Architecture));
        Assert.Contains("general.architecture", ex.Message);
        Assert.Contains("string", ex.Message);
        Assert.Contains("u32", ex.Message);
    }
}
