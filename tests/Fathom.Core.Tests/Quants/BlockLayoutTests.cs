using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

[Trait("Category", "Kernels")]
public class BlockLayoutTests
{
    [Fact]
    public unsafe void Every_block_struct_has_ggml_size()
    {
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q4_0), sizeof(BlockQ4_0));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q4_1), sizeof(BlockQ4_1));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q5_0), sizeof(BlockQ5_0));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q5_1), sizeof(BlockQ5_1));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q8_0), sizeof(BlockQ8_0));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q8_1), sizeof(BlockQ8_1));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q2_K), sizeof(BlockQ2_K));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q3_K), sizeof(BlockQ3_K));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q4_K), sizeof(BlockQ4_K));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q5_K), sizeof(BlockQ5_K));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q6_K), sizeof(BlockQ6_K));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q8_K), sizeof(BlockQ8_K));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ4_NL), sizeof(BlockIQ4_NL));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ4_XS), sizeof(BlockIQ4_XS));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ2_XXS), sizeof(BlockIQ2_XXS));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ2_XS), sizeof(BlockIQ2_XS));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ2_S), sizeof(BlockIQ2_S));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ3_XXS), sizeof(BlockIQ3_XXS));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ3_S), sizeof(BlockIQ3_S));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ1_S), sizeof(BlockIQ1_S));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.IQ1_M), sizeof(BlockIQ1_M));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.TQ1_0), sizeof(BlockTQ1_0));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.TQ2_0), sizeof(BlockTQ2_0));
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.MXFP4), sizeof(BlockMXFP4));
    }

    [Fact]
    public void Block_element_counts_match_ggml()
    {
        Assert.Equal(BlockQ4_0.Elements, GgmlTypeInfo.BlockSize(GgmlType.Q4_0));
        Assert.Equal(BlockQ8_1.Elements, GgmlTypeInfo.BlockSize(GgmlType.Q8_1));
        Assert.Equal(BlockQ4_K.Elements, GgmlTypeInfo.BlockSize(GgmlType.Q4_K));
        Assert.Equal(BlockQ8_K.Elements, GgmlTypeInfo.BlockSize(GgmlType.Q8_K));
        Assert.Equal(BlockIQ4_XS.Elements, GgmlTypeInfo.BlockSize(GgmlType.IQ4_XS));
    }

    [Fact]
    public unsafe void Scale_fields_sit_where_ggml_puts_them()
    {
        var q6 = default(BlockQ6_K);
        var q3 = default(BlockQ3_K);
        var q2 = default(BlockQ2_K);
        var q8k = default(BlockQ8_K);
        Assert.Equal(208, (int)((byte*)&q6.D - (byte*)&q6));
        Assert.Equal(192, (int)((byte*)q6.Scales - (byte*)&q6));
        Assert.Equal(108, (int)((byte*)&q3.D - (byte*)&q3));
        Assert.Equal(80, (int)((byte*)&q2.D - (byte*)&q2));
        Assert.Equal(260, (int)((byte*)q8k.BSums - (byte*)&q8k));
    }
}
