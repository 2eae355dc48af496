using System.Buffers.Binary;
using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tests.Quants;

[Trait("Category", "Kernels")]
public class DequantizeTests
{
    // Normalized RMS error a format allows on N(0, 1/fan_in) weights: about step/√12 of the block range, with margin.
    public static TheoryData<string, GgmlType, double> Fixtures_and_bounds() => new()
    {
        { "tiny-llama-f16.gguf", GgmlType.F16, 0.001 },
        { "tiny-llama-q8_0.gguf", GgmlType.Q8_0, 0.01 },
        { "tiny-llama-q6_k.gguf", GgmlType.Q6_K, 0.03 },
        { "tiny-llama-q5_0.gguf", GgmlType.Q5_0, 0.06 },
        { "tiny-llama-q5_1.gguf", GgmlType.Q5_1, 0.06 },
        { "tiny-llama-q5_k.gguf", GgmlType.Q5_K, 0.06 },
        { "tiny-llama-q4_0.gguf", GgmlType.Q4_0, 0.12 },
        { "tiny-llama-q4_1.gguf", GgmlType.Q4_1, 0.12 },
        { "tiny-llama-q4_k_m.gguf", GgmlType.Q4_K, 0.12 },
        { "tiny-llama-iq4_nl.gguf", GgmlType.IQ4_NL, 0.12 },
        { "tiny-llama-iq4_xs.gguf", GgmlType.IQ4_XS, 0.12 },
        { "tiny-llama-q3_k.gguf", GgmlType.Q3_K, 0.25 },
        { "tiny-llama-q2_k.gguf", GgmlType.Q2_K, 0.45 },
    };

    [Theory]
    [MemberData(nameof(Fixtures_and_bounds))]
    public void Quantized_fixture_dequantizes_close_to_the_f32_weights(string file, GgmlType type, double bound)
    {
        using var f32 = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        using var quant = GgufFile.Open(Fixtures.Model(file));
        int seen = 0;
        foreach (var info in quant.Tensors)
        {
            if (info.Type == GgmlType.F32)
                continue;
            var view = quant.View(info);
            float[] actual = Dequantize.Tensor(view);
            var expected = f32.GetTensor(info.Name).AsFloats();
            Assert.Equal(expected.Length, actual.Length);
            double err = 0, sig = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                double e = actual[i] - expected[i];
                err += e * e;
                sig += (double)expected[i] * expected[i];
            }
            double nrmse = Math.Sqrt(err / sig);
            Assert.True(nrmse < bound, $"{info.Name} ({info.Type}): normalized RMS error {nrmse:g3} ≥ {bound}");
            // A format finer than its bound by 4x would mean the bound is not testing anything.
            Assert.True(nrmse > bound / 8 || type == GgmlType.F16, $"{info.Name}: error {nrmse:g3} is implausibly small for {type}");
            if (info.Type == type) seen++;
        }
        Assert.True(seen > 0);
    }

    private static float[] Run(GgmlType type, byte[] block)
    {
        var dst = new float[GgmlTypeInfo.BlockSize(type)];
        Dequantize.Row(type, block, dst);
        return dst;
    }

    private static void Half(byte[] b, int at, float v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), BitConverter.HalfToUInt16Bits((Half)v));

    [Fact]
    public void Q4_0_block_is_d_times_nibble_minus_8()
    {
        var b = new byte[18];
        Half(b, 0, 0.5f);
        b[2] = 0x1F; // element 0: 15, element 16: 1
        var y = Run(GgmlType.Q4_0, b);
        Assert.Equal(3.5f, y[0]);
        Assert.Equal(-3.5f, y[16]);
        Assert.Equal(-4f, y[1]);
    }

    [Fact]
    public void Q4_1_block_adds_the_min()
    {
        var b = new byte[20];
        Half(b, 0, 2f);
        Half(b, 2, -1f);
        b[4] = 0x3A;
        var y = Run(GgmlType.Q4_1, b);
        Assert.Equal(19f, y[0]);
        Assert.Equal(5f, y[16]);
        Assert.Equal(-1f, y[31]);
    }

    [Fact]
    public void Q5_0_high_bits_come_from_qh()
    {
        var b = new byte[22];
        Half(b, 0, 1f);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(2), 0x0001_0001u | (1u << 31));
        b[6] = 0x21; // element 0: 1|16, element 16: 2|16
        var y = Run(GgmlType.Q5_0, b);
        Assert.Equal(1f, y[0]);
        Assert.Equal(2f, y[16]);
        Assert.Equal(-16f, y[1]);
        Assert.Equal(0f, y[31]); // qs[15] = 0, high bit set → 16 − 16
    }

    [Fact]
    public void Q5_1_and_Q8_0_blocks()
    {
        var b = new byte[24];
        Half(b, 0, 1f);
        Half(b, 2, 0.25f);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 1u << 17);
        b[8 + 1] = 0xF0;
        var y = Run(GgmlType.Q5_1, b);
        Assert.Equal(31.25f, y[17]);
        Assert.Equal(0.25f, y[1]);

        var q8 = new byte[34];
        Half(q8, 0, 0.5f);
        q8[2] = unchecked((byte)-128);
        q8[33] = 7;
        y = Run(GgmlType.Q8_0, q8);
        Assert.Equal(-64f, y[0]);
        Assert.Equal(3.5f, y[31]);
    }

    [Fact]
    public void Q2_K_uses_four_bit_scale_and_min()
    {
        var b = new byte[84];
        b[0] = 0x12; // sub-block 0: scale 2, min 1
        b[16] = 0x02 | (0x03 << 2); // element 0: 2; element 32: 3 (sub-block 2, scale 0)
        Half(b, 80, 1f);
        Half(b, 82, 0.5f);
        var y = Run(GgmlType.Q2_K, b);
        Assert.Equal(2 * 2 - 0.5f, y[0]);
        Assert.Equal(-0.5f, y[1]);
        Assert.Equal(0f, y[32]);
    }

    [Fact]
    public void Q3_K_high_bit_clear_subtracts_four()
    {
        var b = new byte[110];
        b[0] = 1; // hmask: element 0 has its high bit
        b[32] = 0x03; // qs: element 0 low bits 3, element 1 (qs[1]) 0
        b[96] = 0x01; // scales: sub-block 0 low nibble 1
        b[104] = 0x02; // sub-block 0 high bits 2 → 33 − 32 = 1
        Half(b, 108, 0.5f);
        var y = Run(GgmlType.Q3_K, b);
        Assert.Equal(1.5f, y[0]);
        Assert.Equal(-2f, y[1]);
        Assert.Equal(0.5f * -32 * -4, y[16]); // sub-block 1: scale 0 − 32
    }

    [Fact]
    public void Q4_K_unpacks_upper_six_bit_scales()
    {
        var b = new byte[144];
        Half(b, 0, 1f);
        Half(b, 2, 0.5f);
        b[4 + 1] = 0x40; // scale-5 high bits = 1
        b[4 + 5] = 0x80; // min-5 high bits = 2
        b[4 + 9] = 0x21; // scale-5 low = 1, min-5 low = 2
        b[16 + 64] = 0x30; // element 160 (sub-block 5, high nibble) = 3
        var y = Run(GgmlType.Q4_K, b);
        Assert.Equal(17 * 3 - 0.5f * 34, y[160]);
        Assert.Equal(-17f, y[161]);
        Assert.Equal(0f, y[0]);
    }

    [Fact]
    public void Q5_K_and_Q6_K_blocks()
    {
        var b = new byte[176];
        Half(b, 0, 1f);
        b[4] = 2; // sub-block 0 scale 2
        b[16] = 0x01; // qh: element 0 bit 4
        b[48] = 0x03;
        var y = Run(GgmlType.Q5_K, b);
        Assert.Equal(2 * 19f, y[0]);

        var q6 = new byte[210];
        q6[0] = 0x05;
        q6[128] = 0x01;
        q6[192] = 2;
        q6[194] = unchecked((byte)-3); // scale for elements 32..47
        Half(q6, 208, 0.5f);
        y = Run(GgmlType.Q6_K, q6);
        Assert.Equal(0.5f * 2 * (21 - 32), y[0]);
        Assert.Equal(0.5f * -3 * -32, y[32]);
    }

    [Fact]
    public void IQ4_blocks_use_the_non_linear_table()
    {
        var nl = new byte[18];
        Half(nl, 0, 0.5f);
        nl[2] = 0xF0;
        var y = Run(GgmlType.IQ4_NL, nl);
        Assert.Equal(-63.5f, y[0]);
        Assert.Equal(56.5f, y[16]);

        var xs = new byte[136];
        Half(xs, 0, 1f);
        BinaryPrimitives.WriteUInt16LittleEndian(xs.AsSpan(2), 0b10);
        xs[4] = 0x01; // ls = 1 | 2<<4 = 33 → scale 1
        xs[8] = 0xF8;
        y = Run(GgmlType.IQ4_XS, xs);
        Assert.Equal(1f, y[0]);
        Assert.Equal(113f, y[16]);
        Assert.Equal(-32 * -127f, y[32]); // sub-block 1: ls 0 → −32, nibble 0
    }

    [Fact]
    public void Q8_K_and_float_types()
    {
        var b = new byte[292];
        BinaryPrimitives.WriteSingleLittleEndian(b, 0.25f);
        b[4] = 8;
        Assert.Equal(2f, Run(GgmlType.Q8_K, b)[0]);
        Assert.Equal(-2f, Run(GgmlType.BF16, [0x00, 0xC0])[0]);
        Assert.Equal(0.5f, Run(GgmlType.F16, [0x00, 0x38])[0]);
    }

    [Fact]
    public void IQ2_grids_scales_and_even_parity_signs()
    {
        var b = new byte[66];
        Half(b, 0, 1f);
        b[2 + 1] = 1; // group 0, l = 1: grid entry 1 (first byte 0x2b)
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(2 + 4), 1); // sign index 1 for l = 0 → elements 0 and 7 negative
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(2 + 12), 15u << 28); // group 1 scale 15
        var y = Run(GgmlType.IQ2_XXS, b);
        Assert.Equal(-1f, y[0]);
        Assert.Equal(1f, y[1]);
        Assert.Equal(-1f, y[7]);
        Assert.Equal(0.125f * 43, y[8]);
        Assert.Equal(15.5f * 0.25f * 8, y[32]);

        var xs = new byte[74];
        Half(xs, 0, 1f);
        BinaryPrimitives.WriteUInt16LittleEndian(xs.AsSpan(2), (ushort)((1 << 9) | 1));
        xs[66] = 0x30; // group 0: low scale 0 (l < 2), high scale 3 (l ≥ 2)
        y = Run(GgmlType.IQ2_XS, xs);
        Assert.Equal(-0.125f * 43, y[0]);
        Assert.Equal(0.125f * 8, y[1]);
        Assert.Equal(3.5f * 0.25f * 8, y[16]);

        var s = new byte[82];
        Half(s, 0, 1f);
        s[2 + 32] = 0x02; // sign byte of group 0, l = 0: element 1 negative
        s[2 + 64] = 0x04; // qh: grid index of l = 1 gets 0x100
        var ys = Run(GgmlType.IQ2_S, s);
        Assert.Equal(-0.125f * 8, ys[1]);
        Assert.Equal(0.125f * 8, ys[0]);
        Assert.NotEqual(0.125f * 8, ys[9]); // index 256 is a different grid point
    }

    [Fact]
    public void IQ3_and_IQ1_blocks()
    {
        var b = new byte[98];
        Half(b, 0, 2f);
        var y = Run(GgmlType.IQ3_XXS, b);
        Assert.Equal(2f * 0.25f * 4, y[0]);

        var s = new byte[110];
        Half(s, 0, 0.5f);
        s[2 + 64 + 8] = 0x01; // signs of group 0, l = 0: element 0 negative
        s[2 + 64 + 8 + 32] = 0x10; // scales: second group of 32 has scale 1 → 3
        y = Run(GgmlType.IQ3_S, s);
        Assert.Equal(-0.5f, y[0]);
        Assert.Equal(0.5f, y[1]);
        Assert.Equal(1.5f, y[32]);

        var one = new byte[50];
        Half(one, 0, 1f);
        BinaryPrimitives.WriteUInt16LittleEndian(one.AsSpan(34), 0x8000 | (1 << 12)); // negative delta, scale 3
        y = Run(GgmlType.IQ1_S, one);
        Assert.Equal(3 * (-1 - 0.125f), y[0]);
        Assert.Equal(-1 + 0.125f, y[32]);

        var m = new byte[56];
        m[48 + 5] = 0xC0; // the f16 scale 0x3C00 is spread over the top nibbles of the four u16 scales
        m[48 + 7] = 0x30;
        y = Run(GgmlType.IQ1_M, m);
        Assert.Equal(-1 + 0.125f, y[0]);
    }

    [Fact]
    public void Ternary_and_mxfp4_blocks()
    {
        var t2 = new byte[66];
        t2[0] = 0x02;
        Half(t2, 64, 2f);
        var y = Run(GgmlType.TQ2_0, t2);
        Assert.Equal(2f, y[0]);
        Assert.Equal(-2f, y[32]);

        var t1 = new byte[54];
        t1[0] = 255;
        Half(t1, 52, 1f);
        y = Run(GgmlType.TQ1_0, t1);
        Assert.Equal(1f, y[0]);
        Assert.Equal(-1f, y[1]);

        var mx = new byte[17];
        mx[0] = 128;
        mx[1] = 0x7F;
        y = Run(GgmlType.MXFP4, mx);
        Assert.Equal(-12f, y[0]);
        Assert.Equal(12f, y[16]);
    }

    [Fact]
    public void Bad_sizes_and_types_are_typed_errors()
    {
        Assert.Throws<ArgumentException>(() => Dequantize.Row(GgmlType.Q4_0, new byte[18], new float[31]));
        Assert.Throws<ArgumentException>(() => Dequantize.Row(GgmlType.Q4_0, new byte[17], new float[32]));
        Assert.Throws<NotSupportedException>(() => Dequantize.Row(GgmlType.I32, new byte[4], new float[1]));
        Assert.False(Dequantize.IsSupported(GgmlType.I8));
    }
}
