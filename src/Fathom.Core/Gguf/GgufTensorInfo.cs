namespace Fathom.Gguf;

/// <summary>
/// A tensor's entry in the GGUF header. <see cref="Dimensions"/> are ggml's <c>ne</c>, fastest-varying
/// first; <see cref="Offset"/> is relative to the data section, <see cref="FileOffset"/> absolute.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long Offset, long FileOffset, long ByteSize)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Dimensions)
                n *= d;
            return n;
        }
    }

    /// <summary>Shape in ggml order as text: <c>[256, 512]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Dimensions) + "]";
}
