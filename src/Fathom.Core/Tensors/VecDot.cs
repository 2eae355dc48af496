using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// Per weight type: the activation format llama.cpp converts to (its "vec_dot_type"), the
/// converter, and the row dot product. Function pointers keep the inner loops free of virtual calls.
/// </summary>
internal readonly unsafe struct VecDot
{
    public readonly int BlockSize;
    public readonly GgmlType ActivationType;
    public readonly delegate*<float*, byte*, int, void> Quantize;
    public readonly delegate*<byte*, byte*, int, float> Dot;

    /// <summary>One weight row × four activation rows (prefill), or null when the type has none on this machine.</summary>
    public readonly delegate*<byte*, byte*, int, int, float*, void> Dot4;

    /// <summary>The decode (one activation row) kernel over row ranges, when the type has one on this machine.</summary>
    public readonly QuantGemv.Kernel Gemv;

    private VecDot(int blockSize, GgmlType activationType, delegate*<float*, byte*, int, void> quantize, delegate*<byte*, byte*, int, float> dot,
        delegate*<byte*, byte*, int, int, float*, void> dot4 = null, QuantGemv.Kernel gemv = default)
    {
        BlockSize = blockSize;
        ActivationType = activationType;
        Quantize = quantize;
        Dot = dot;
        Dot4 = dot4;
        Gemv = gemv;
    }

    public int ActivationRowBytes(int columns) => checked((int)GgmlTypeInfo.RowSize(ActivationType, columns));

    public static VecDot For(GgmlType type)
    {
        var v = PerRow(type);
        return new VecDot(v.BlockSize, v.ActivationType, v.Quantize, v.Dot, v.Dot4, QuantGemv.For(type));
    }

    /// <summary>The table without the decode kernel: every product through the per-row dots.</summary>
    internal static VecDot PerRow(GgmlType type) => type switch
    {
        GgmlType.F32 => new(1, GgmlType.F32, &CopyF32, &DotF32),
        GgmlType.F16 => new(1, GgmlType.F16, &ToF16, &DotF16),
        GgmlType.BF16 => new(1, GgmlType.BF16, &ToBF16, &DotBF16),
        GgmlType.Q4_0 => new(32, GgmlType.Q8_0, &ToQ8_0, &QuantDot.Q4_0, Simd.UseAvx2Kernels ? &QuantDot4.Q4_0 : null),
        GgmlType.Q4_1 => new(32, GgmlType.Q8_1, &ToQ8_1, &QuantDot.Q4_1),
        GgmlType.Q5_0 => new(32, GgmlType.Q8_0, &ToQ8_0, &QuantDot.Q5_0),
        GgmlType.Q5_1 => new(32, GgmlType.Q8_1, &ToQ8_1, &QuantDot.Q5_1),
        GgmlType.Q8_0 => new(32, GgmlType.Q8_0, &ToQ8_0, &QuantDot.Q8_0, Simd.UseAvx2Kernels ? &QuantDot4.Q8_0 : null),
        GgmlType.IQ4_NL => new(32, GgmlType.Q8_0, &ToQ8_0, &QuantDot.IQ4_NL),
        GgmlType.Q2_K => new(256, GgmlType.Q8_K, &ToQ8_K, &QuantDot.Q2_K),
        GgmlType.Q3_K => new(256, GgmlType.Q8_K, &ToQ8_K, &QuantDot.Q3_K),
        GgmlType.Q4_K => new(256, GgmlType.Q8_K, &ToQ8_K, &QuantDot.Q4_K, Simd.UseAvx2Kernels ? &QuantDot4.Q4_K : null),
        GgmlType.Q5_K => new(256, GgmlType.Q8_K, &ToQ8_K, &QuantDot.Q5_K),
        GgmlType.Q6_K => new(256, GgmlType.Q8_K, &ToQ8_K, &QuantDot.Q6_K, Simd.UseAvx2Kernels ? &QuantDot4.Q6_K : null),
        GgmlType.IQ4_XS => new(256, GgmlType.Q8_K, &ToQ8_K, &QuantDot.IQ4_XS),
        _ => default,
    };

    /// <summary>The same table with every dot product replaced by its scalar reference (for tests and benchmarks).</summary>
    public static VecDot Reference(GgmlType type)
    {
        var v = PerRow(type);
        delegate*<byte*, byte*, int, float> dot = type switch
        {
            GgmlType.F32 => &DotF32Reference,
            GgmlType.F16 => &DotF16Reference,
            GgmlType.BF16 => &DotBF16,
            GgmlType.Q4_0 => &QuantDotReference.Q4_0,
            GgmlType.Q4_1 => &QuantDotReference.Q4_1,
            GgmlType.Q5_0 => &QuantDotReference.Q5_0,
            GgmlType.Q5_1 => &QuantDotReference.Q5_1,
            GgmlType.Q8_0 => &QuantDotReference.Q8_0,
            GgmlType.IQ4_NL => &QuantDotReference.IQ4_NL,
            GgmlType.Q2_K => &QuantDotReference.Q2_K,
            GgmlType.Q3_K => &QuantDotReference.Q3_K,
            GgmlType.Q4_K => &QuantDotReference.Q4_K,
            GgmlType.Q5_K => &QuantDotReference.Q5_K,
            GgmlType.Q6_K => &QuantDotReference.Q6_K,
            GgmlType.IQ4_XS => &QuantDotReference.IQ4_XS,
            _ => null,
        };
        return new VecDot(v.BlockSize, v.ActivationType, v.Quantize, dot);
    }

    private static void ToQ8_0(float* x, byte* dst, int n) => Q8Activations.Q8_0(x, (BlockQ8_0*)dst, n / 32);

    private static void ToQ8_1(float* x, byte* dst, int n) => Q8Activations.Q8_1(x, (BlockQ8_1*)dst, n / 32);

    private static void ToQ8_K(float* x, byte* dst, int n) => Q8Activations.Q8_K(x, (BlockQ8_K*)dst, n / 256);

    private static void ToBF16(float* x, byte* dst, int n)
    {
        for (int i = 0; i < n; i++)
            ((ushort*)dst)[i] = Bf16.FromFloat(x[i]);
    }

    // ggml_vec_dot_bf16: bf16 products in float, summed in double (its generic form).
    private static float DotBF16(byte* w, byte* x, int n)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += Bf16.ToFloat(((ushort*)w)[i]) * Bf16.ToFloat(((ushort*)x)[i]);
        return (float)sum;
    }

    private static float DotF32Reference(byte* w, byte* x, int n) =>
        FloatDot.F32Reference(new ReadOnlySpan<float>(w, n), new ReadOnlySpan<float>(x, n));

    private static float DotF16Reference(byte* w, byte* x, int n) =>
        FloatDot.F16Reference(new ReadOnlySpan<ushort>(w, n), new ReadOnlySpan<ushort>(x, n));

    private static void CopyF32(float* x, byte* dst, int n) =>
        new ReadOnlySpan<float>(x, n).CopyTo(new Span<float>(dst, n));

    private static void ToF16(float* x, byte* dst, int n) =>
        FloatDot.ToF16(new ReadOnlySpan<float>(x, n), new Span<ushort>(dst, n));

    private static float DotF32(byte* w, byte* x, int n) =>
        FloatDot.F32(new ReadOnlySpan<float>(w, n), new ReadOnlySpan<float>(x, n));

    private static float DotF16(byte* w, byte* x, int n) =>
        FloatDot.F16Dot(new ReadOnlySpan<ushort>(w, n), new ReadOnlySpan<ushort>(x, n));
}
