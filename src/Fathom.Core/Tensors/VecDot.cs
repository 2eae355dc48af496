using Fathom.Gguf;

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

    private VecDot(int blockSize, GgmlType activationType, delegate*<float*, byte*, int, void> quantize, delegate*<byte*, byte*, int, float> dot)
    {
        BlockSize = blockSize;
        ActivationType = activationType;
        Quantize = quantize;
        Dot = dot;
    }

    public int ActivationRowBytes(int columns) => checked((int)GgmlTypeInfo.RowSize(ActivationType, columns));

    public static VecDot For(GgmlType type) => type switch
    {
        GgmlType.F32 => new(1, GgmlType.F32, &CopyF32, &DotF32),
        GgmlType.F16 => new(1, GgmlType.F16, &ToF16, &DotF16),
        _ => default,
    };

    private static void CopyF32(float* x, byte* dst, int n) =>
        new ReadOnlySpan<float>(x, n).CopyTo(new Span<float>(dst, n));

    private static void ToF16(float* x, byte* dst, int n) =>
        FloatDot.ToF16(new ReadOnlySpan<float>(x, n), new Span<ushort>(dst, n));

    private static float DotF32(byte* w, byte* x, int n) =>
        FloatDot.F32(new ReadOnlySpan<float>(w, n), new ReadOnlySpan<float>(x, n));

    private static float DotF16(byte* w, byte* x, int n) =>
        FloatDot.F16Dot(new ReadOnlySpan<ushort>(w, n), new ReadOnlySpan<ushort>(x, n));
}
