using Fathom.Gguf;
using Fathom.Models;

namespace Fathom.Tests.Models;

public class ModelTests
{
    [Fact]
    public void Detects_tied_and_untied_output()
    {
        using var llama = Model.Load(Fixtures.Model("tiny-llama-f32.gguf"));
        using var qwen2 = Model.Load(Fixtures.Model("tiny-qwen2-f32.gguf"));
        Assert.False(llama.TiedOutput);
        Assert.True(qwen2.TiedOutput);
    }

    [Theory]
    [InlineData("llama", "blk.1.ffn_up.weight")]
    [InlineData("qwen2", "blk.0.attn_k.bias")]
    [InlineData("qwen3", "blk.1.attn_q_norm.weight")]
    [InlineData("qwen3moe", "blk.0.ffn_down_exps.weight")]
    [InlineData("llama", "output_norm.weight")]
    public void Missing_tensor_is_named(string arch, string tensor)
    {
        var g = arch == "qwen3moe" ? TestGguf.RandomModel(arch, experts: 4, used: 2) : TestGguf.RandomModel(arch);
        Assert.True(g.Remove(tensor));
        using var f = GgufFile.FromBytes(g.ToBytes());
        var ex = Assert.Throws<ModelFormatException>(() => Model.FromGguf(f));
        Assert.Contains($"'{tensor}'", ex.Message);
        Assert.Contains(arch, ex.Message);
    }

    [Fact]
    public void Misshapen_tensor_names_both_shapes()
    {
        var g = TestGguf.RandomModel("llama", embd: 64, heads: 4, kvHeads: 1);
        g.Remove("blk.0.attn_k.weight");
        g.Tensor("blk.0.attn_k.weight", new float[64 * 32], 64, 32);
        using var f = GgufFile.FromBytes(g.ToBytes());
        var ex = Assert.Throws<ModelFormatException>(() => Model.FromGguf(f));
        Assert.Contains("[64, 32]", ex.Message);
        Assert.Contains("[64, 16]", ex.Message);
    }
}
