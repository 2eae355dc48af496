using Fathom.Gguf;

namespace Fathom.Tensors;

/// <summary>
/// A tensor that lives elsewhere (usually in a memory-mapped GGUF file): element type, ggml shape
/// (fastest dimension first) and a pointer to its bytes. Nothing is copied; the view is valid while
/// its owner (the <see cref="GgufFile"/>) is open.
/// </summary>
public readonly unsafe struct TensorView
{
    public TensorView(string name, GgmlType type, long[] shape, byte* data, long byteLength)
    {
        Name = name;
        Type = type;
        Shape = shape;
        Data = data;
        ByteLength = byteLength;
    }

    public string Name { get; }
    public GgmlType Type { get; }
    public long[] Shape { get; }
    public byte* Data { get; }
    public long ByteLength { get; }

    /// <summary>ne0: elements in one row.</summary>
    public long Columns => Shape.Length > 0 ? Shape[0] : 1;

    /// <summary>Product of every dimension after the first.</summary>
    public long Rows
    {
        get
        {
            long r = 1;
            for (int i = 1; i < Shape.Length; i++)
                r *= Shape[i];
            return r;
        }
    }

    public long ElementCount => Columns * Rows;

    /// <summary>Bytes of one row (ne0 elements).</summary>
    public long RowBytes => GgmlTypeInfo.RowSize(Type, Columns);

    /// <summary>The whole tensor as a span; throws for tensors of 2 GiB or more (use <see cref="Row"/>).</summary>
    public ReadOnlySpan<byte> Bytes => ByteLength <= int.MaxValue
        ? new ReadOnlySpan<byte>(Data, (int)ByteLength)
        : throw new InvalidOperationException($"Tensor {Name} is {ByteLength} bytes; read it by rows.");

    /// <summary>The bytes of row <paramref name="row"/> (a row is ne0 elements).</summary>
    public ReadOnlySpan<byte> Row(long row)
    {
        long rb = RowBytes;
        if ((ulong)row >= (ulong)Rows)
            throw new ArgumentOutOfRangeException(nameof(row));
        return new ReadOnlySpan<byte>(Data + row * rb, checked((int)rb));
    }

    /// <summary>The tensor's data as F32 values; only for <see cref="GgmlType.F32"/> tensors.</summary>
    public ReadOnlySpan<float> AsFloats()
    {
        if (Type != GgmlType.F32)
            throw new InvalidOperationException($"Tensor {Name} is {Type}, not F32.");
        return new ReadOnlySpan<float>(Data, checked((int)(ByteLength / 4)));
    }
}
