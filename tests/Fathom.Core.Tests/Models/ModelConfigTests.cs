using Fathom.Gguf;
using Fathom.Models;

namespace Fathom.Tests.Models;

public class ModelConfigTests
{
    private static ModelConfig Read(string model)
    {
        using var f = GgufFile.Open(Fixtures.Model(model));
        return ModelConfig.FromGguf(f);
    }

    private static ModelConfig Read(TestGguf g)
    {
        using var f = GgufFile.FromBytes(g.ToBytes());
        return ModelConfig.FromGguf(f);
    }

    [Fact]
    public void Reads_llama_hyper_parameters()
    {
        var c = Read("tiny-llama-f32.gguf");
        Assert.Equal(("llama", 512, 256, 2, 768), (c.Architecture, c.VocabSize, c.EmbeddingLength, c.BlockCount, c.FeedForwardLength));
        Assert.Equal((4, 2, 64, 64, 2), (c.HeadCount, c.HeadCountKv, c.KeyLength, c.ValueLength, c.GroupSize));
        Assert.Equal((64, 10000f, 1e-5f, RopeStyle.Normal), (c.RopeDimensionCount, c.RopeFreqBase, c.RmsEpsilon, c.RopeStyle));
        Assert.Equal((RopeScalingType.None, 1f, 2048), (c.RopeScaling, c.RopeFreqScale, c.ContextLength));
        Assert.False(c.IsMoe);
    }

    [Fact]
    public void Reads_qwen3moe_experts_and_head_width_independent_of_embedding()
    {
        var c = Read("tiny-qwen3moe-f32.gguf");
        Assert.Equal((8, 2, 256), (c.ExpertCount, c.ExpertUsedCount, c.ExpertFeedForwardLength));
        Assert.Equal((128, 4, 64), (c.EmbeddingLength, c.HeadCount, c.KeyLength));
        Assert.Equal(RopeStyle.NeoX, c.RopeStyle);
        Assert.True(c.IsMoe);
        Assert.Equal(1e6f, Read("tiny-qwen2-f32.gguf").RopeFreqBase);
    }

    [Fact]
    public void Defaults_head_width_and_kv_heads_like_llama_cpp()
    {
        var g = TestGguf.RandomModel("llama", embd: 48, heads: 3, kvHeads: 3);
        g.Set("general.architecture", "llama");
        var full = Read(g);
        Assert.Equal(16, full.KeyLength);
        var noKv = new TestGguf().Set("general.architecture", "qwen2").Set("qwen2.embedding_length", 64u)
            .Set("qwen2.block_count", 1u).Set("qwen2.attention.head_count", 8u).Set("qwen2.feed_forward_length", 10u)
            .Set("qwen2.vocab_size", 5u);
        var c = Read(noKv);
        Assert.Equal((8, 8, 8, 2048, 1e-5f), (c.HeadCountKv, c.KeyLength, c.RopeDimensionCount, c.ContextLength, c.RmsEpsilon));
    }

    [Fact]
    public void Reads_yarn_and_linear_rope_scaling()
    {
        var yarn = Read(TestGguf.RandomModel("qwen2").Set("qwen2.rope.scaling.type", "yarn")
            .Set("qwen2.rope.scaling.factor", 4f).Set("qwen2.rope.scaling.original_context_length", 64u));
        Assert.Equal((RopeScalingType.Yarn, 0.25f, 1f, 64), (yarn.RopeScaling, yarn.RopeFreqScale, yarn.YarnExtFactor, yarn.RopeOriginalContextLength));
        var linear = Read(TestGguf.RandomModel("llama").Set("llama.rope.scaling.type", "linear").Set("llama.rope.scaling.factor", 2f));
        Assert.Equal((RopeScalingType.Linear, 0.5f, 0f), (linear.RopeScaling, linear.RopeFreqScale, linear.YarnExtFactor));
        var bad = Assert.Throws<ModelFormatException>(() => Read(TestGguf.RandomModel("llama").Set("llama.rope.scaling.type", "longrope")));
        Assert.Contains("longrope", bad.Message);
    }

    [Fact]
    public void Missing_or_inconsistent_keys_are_named()
    {
        var g = new TestGguf().Set("general.architecture", "llama").Set("llama.attention.head_count", 4u);
        Assert.Contains("llama.embedding_length", Assert.Throws<ModelFormatException>(() => Read(g)).Message);
        var gqa = TestGguf.RandomModel("llama", heads: 4, kvHeads: 3);
        Assert.Contains("not a multiple", Assert.Throws<ModelFormatException>(() => Read(gqa)).Message);
        var moe = TestGguf.RandomModel("llama", experts: 4, used: 5);
        Assert.Contains("llama.expert_used_count", Assert.Throws<ModelFormatException>(() => Read(moe)).Message);
    }
}
