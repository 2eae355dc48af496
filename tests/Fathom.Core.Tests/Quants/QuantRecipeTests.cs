using System.Buffers.Binary;
using System.Text;
using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

public class QuantRecipeTests
{
    [Fact]
    public void Q4_K_M_on_tiny_llama_raises_output_and_last_layer_v_and_down()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        var plan = QuantRecipe.Plan(f, QuantFileType.Q4_K_M, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q6_K, plan["output.weight"]);
        Assert.Equal(GgmlType.Q4_K, plan["token_embd.weight"]);
        Assert.Equal(GgmlType.Q4_K, plan["blk.0.attn_v.weight"]);
        Assert.Equal(GgmlType.Q6_K, plan["blk.1.attn_v.weight"]);
        Assert.Equal(GgmlType.Q6_K, plan["blk.1.ffn_down.weight"]);
        Assert.Equal(GgmlType.F32, plan["blk.0.attn_norm.weight"]);
        Assert.Equal(13, plan.Values.Count(t => t == GgmlType.Q4_K));
    }

    [Fact]
    public void Order_is_non_layer_tensors_by_name_then_layers_numerically()
    {
        byte[] bytes = SyntheticModel(12, 2, 8);
        using var f = GgufFile.FromBytes(bytes);
        var names = QuantRecipe.Plan(f, QuantFileType.Q8_0, pure: true).Select(p => p.Source.Name).ToList();
        Assert.Equal("output.weight", names[0]);
        Assert.Equal("output_norm.weight", names[1]);
        Assert.Equal("token_embd.weight", names[2]);
        Assert.Equal("blk.0.attn_k.weight", names[3]);
        Assert.True(names.IndexOf("blk.2.attn_v.weight") < names.IndexOf("blk.10.attn_k.weight"));
    }

    [Theory]
    [InlineData(QuantFileType.Q4_K_M)]
    [InlineData(QuantFileType.Q5_K_M)]
    public void K_M_recipes_give_more_bits_to_first_last_and_every_third_layer(QuantFileType ftype)
    {
        using var f = GgufFile.FromBytes(SyntheticModel(32, 32, 8));
        var plan = QuantRecipe.Plan(f, ftype, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        int[] more = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
        var baseType = QuantRecipe.DefaultType(ftype);
        for (int l = 0; l < 32; l++)
        {
            var want = more.Contains(l) ? GgmlType.Q6_K : baseType;
            Assert.Equal(want, plan[$"blk.{l}.attn_v.weight"]);
            Assert.Equal(want, plan[$"blk.{l}.ffn_down.weight"]);
            Assert.Equal(baseType, plan[$"blk.{l}.attn_q.weight"]);
        }
        Assert.Equal(GgmlType.Q6_K, plan["output.weight"]);
    }

    [Fact]
    public void IQ4_recipes_raise_attn_v_with_gqa_and_the_first_eighth_of_ffn_down()
    {
        using var gqa = GgufFile.FromBytes(SyntheticModel(16, 32, 8));
        var plan = QuantRecipe.Plan(gqa, QuantFileType.IQ4_XS, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q5_K, plan["blk.7.attn_v.weight"]);
        Assert.Equal(GgmlType.Q5_K, plan["blk.1.ffn_down.weight"]);
        Assert.Equal(GgmlType.IQ4_XS, plan["blk.2.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q6_K, plan["output.weight"]);
        using var mha = GgufFile.FromBytes(SyntheticModel(16, 8, 8));
        plan = QuantRecipe.Plan(mha, QuantFileType.IQ4_NL, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.IQ4_NL, plan["blk.7.attn_v.weight"]);
    }

    [Fact]
    public void Tied_embeddings_take_the_output_rule_and_eight_experts_raise_attention()
    {
        using var tied = GgufFile.FromBytes(SyntheticModel(4, 8, 8, tied: true));
        var plan = QuantRecipe.Plan(tied, QuantFileType.Q4_K_M, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q6_K, plan["token_embd.weight"]);
        plan = QuantRecipe.Plan(tied, QuantFileType.Q8_0, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q8_0, plan["token_embd.weight"]);

        using var moe = GgufFile.FromBytes(SyntheticModel(4, 8, 8, experts: 8));
        plan = QuantRecipe.Plan(moe, QuantFileType.Q4_K_M, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q8_0, plan["blk.2.attn_v.weight"]);
        Assert.Equal(GgmlType.Q8_0, plan["blk.2.attn_k.weight"]);
        Assert.Equal(GgmlType.Q5_K, plan["blk.2.attn_output.weight"]);
        Assert.Equal(GgmlType.Q4_K, plan["token_embd.weight"]);
    }

    [Fact]
    public void Pure_and_float_types_and_fallbacks()
    {
        using var f = GgufFile.FromBytes(SyntheticModel(2, 4, 2, oddColumns: true));
        var pure = QuantRecipe.Plan(f, QuantFileType.Q4_K_M, pure: true).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q4_K, pure["output.weight"]);
        Assert.Equal(GgmlType.F32, pure["output_norm.weight"]);
        var mixed = QuantRecipe.Plan(f, QuantFileType.Q4_K_M, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q5_0, mixed["blk.0.odd.weight"]); // 96 columns: Q4_K → Q5_0
        var q6 = QuantRecipe.Plan(f, QuantFileType.Q6_K, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.Q8_0, q6["blk.0.odd.weight"]);
        var f16 = QuantRecipe.Plan(f, QuantFileType.F16, pure: false).ToDictionary(p => p.Source.Name, p => p.Target);
        Assert.Equal(GgmlType.F16, f16["output.weight"]);
        Assert.Equal(GgmlType.F16, f16["blk.0.odd.weight"]);
    }

    [Fact]
    public void Type_names_parse_like_llama_quantize()
    {
        Assert.True(QuantRecipe.TryParse("Q4_K_M", out var t));
        Assert.Equal(QuantFileType.Q4_K_M, t);
        Assert.True(QuantRecipe.TryParse("q5_k", out t));
        Assert.Equal(QuantFileType.Q5_K_M, t);
        Assert.False(QuantRecipe.TryParse("q4_k_x", out _));
    }

    // A GGUF header (with tiny tensors) of a llama model with the given layers and heads, for recipe tests.
    internal static byte[] SyntheticModel(int layers, int heads, int kvHeads, bool oddColumns = false, bool tied = false, uint experts = 0)
    {
        var tensors = new List<(string Name, long[] Dims)> { ("token_embd.weight", [256, 4]), ("output_norm.weight", [256]) };
        if (!tied)
            tensors.Add(("output.weight", [256, 4]));
        foreach (string n in new[] { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" })
            for (int l = 0; l < layers; l++)
                tensors.Add(($"blk.{l}.{n}.weight", n.EndsWith("norm", StringComparison.Ordinal) ? [256] : [256, 2]));
        if (oddColumns)
            tensors.Add(("blk.0.odd.weight", [96, 2]));
        var kv = new List<(string, uint, byte[])>
        {
            ("general.architecture", 8, Str("llama")),
            ("llama.block_count", 4, U32((uint)layers)),
            ("llama.attention.head_count", 4, U32((uint)heads)),
            ("llama.attention.head_count_kv", 4, U32((uint)kvHeads)),
        };
        if (experts > 0)
            kv.Add(("llama.expert_count", 4, U32(experts)));
        var ms = new MemoryStream();
        ms.Write(U32(GgufFile.Magic)); ms.Write(U32(3)); ms.Write(U64((ulong)tensors.Count)); ms.Write(U64((ulong)kv.Count));
        foreach (var (k, type, v) in kv) { ms.Write(Str(k)); ms.Write(U32(type)); ms.Write(v); }
        long offset = 0;
        foreach (var (name, dims) in tensors)
        {
            ms.Write(Str(name)); ms.Write(U32((uint)dims.Length));
            foreach (long d in dims) ms.Write(U64((ulong)d));
            ms.Write(U32(0)); ms.Write(U64((ulong)offset));
            offset += (dims.Aggregate(1L, (a, b) => a * b) * 4 + 31) / 32 * 32;
        }
        while (ms.Length % 32 != 0) ms.WriteByte(0);
        ms.Write(new byte[offset]);
        return ms.ToArray();
    }

    private static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    private static byte[] U64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }
    private static byte[] Str(string s) { var u = Encoding.UTF8.GetBytes(s); return [.. U64((ulong)u.Length), .. u]; }
}
