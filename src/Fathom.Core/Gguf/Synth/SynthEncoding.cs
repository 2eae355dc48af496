using System.Runtime.InteropServices;

namespace Fathom.Gguf.Synth;

/// <summary>
/// Turns generated F32 rows into a tensor element type. F32 and F16 here; quantized types plug in
/// beside them (a chunk handed to <see cref="Encode"/> is always whole rows).
/// </summary>
public static class SynthEncoding
{
    /// <summary>True when <see cref="Encode"/> can produce <paramref name="type"/>.</summary>
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16;

    /// <summary>Encodes <paramref name="source"/> (whole rows) into <paramref name="destination"/>, which must be exactly the encoded size.</summary>
    public static void Encode(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case GgmlType.F16:
            {
                var halves = MemoryMarshal.Cast<byte, Half>(destination);
                for (int i = 0; i < source.Length; i++)
                    halves[i] = (Half)source[i];
                break;
            }
            default:
                throw new NotSupportedException($"Synthesizing {type} tensors is not supported yet.");
        }
    }

    /// <summary>The general.file_type llama.cpp writes for a model whose matrices are all <paramref name="type"/>.</summary>
    public static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q4_1 => 3,
        GgmlType.Q8_0 => 7,
        GgmlType.Q5_0 => 8,
        GgmlType.Q5_1 => 9,
        GgmlType.BF16 => 32,
        _ => throw new NotSupportedException($"No general.file_type known for {type}."),
    };
}
