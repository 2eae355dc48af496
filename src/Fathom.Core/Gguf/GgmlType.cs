namespace Fathom.Gguf;

/// <summary>Element types of GGUF tensors; the numeric ids are ggml's and appear in files.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>Block geometry of each <see cref="GgmlType"/>: elements per block and bytes per block.</summary>
public static class GgmlTypeInfo
{
    private static readonly (int BlockSize, int TypeSize)[] Table = Build();

    private static (int, int)[] Build()
    {
        var t = new (int, int)[40];
        void Set(GgmlType type, int block, int size) => t[(int)type] = (block, size);
        Set(GgmlType.F32, 1, 4);
        Set(GgmlType.F16, 1, 2);
        Set(GgmlType.Q4_0, 32, 18);
        Set(GgmlType.Q4_1, 32, 20);
        Set(GgmlType.Q5_0, 32, 22);
        Set(GgmlType.Q5_1, 32, 24);
        Set(GgmlType.Q8_0, 32, 34);
        Set(GgmlType.Q8_1, 32, 36);
        Set(GgmlType.Q2_K, 256, 84);
        Set(GgmlType.Q3_K, 256, 110);
        Set(GgmlType.Q4_K, 256, 144);
        Set(GgmlType.Q5_K, 256, 176);
        Set(GgmlType.Q6_K, 256, 210);
        Set(GgmlType.Q8_K, 256, 292);
        Set(GgmlType.IQ2_XXS, 256, 66);
        Set(GgmlType.IQ2_XS, 256, 74);
        Set(GgmlType.IQ3_XXS, 256, 98);
        Set(GgmlType.IQ1_S, 256, 50);
        Set(GgmlType.IQ4_NL, 32, 18);
        Set(GgmlType.IQ3_S, 256, 110);
        Set(GgmlType.IQ2_S, 256, 82);
        Set(GgmlType.IQ4_XS, 256, 136);
        Set(GgmlType.I8, 1, 1);
        Set(GgmlType.I16, 1, 2);
        Set(GgmlType.I32, 1, 4);
        Set(GgmlType.I64, 1, 8);
        Set(GgmlType.F64, 1, 8);
        Set(GgmlType.IQ1_M, 256, 56);
        Set(GgmlType.BF16, 1, 2);
        Set(GgmlType.TQ1_0, 256, 54);
        Set(GgmlType.TQ2_0, 256, 66);
        Set(GgmlType.MXFP4, 32, 17);
        return t;
    }

    /// <summary>True when the id names a type this build knows the layout of.</summary>
    public static bool IsKnown(uint id) => id < Table.Length && Table[id].BlockSize != 0;

    public static bool IsKnown(GgmlType type) => IsKnown((uint)type);

    /// <summary>Elements per block (1 for plain types).</summary>
    public static int BlockSize(GgmlType type) => Checked(type).BlockSize;

    /// <summary>Bytes per block.</summary>
    public static int TypeSize(GgmlType type) => Checked(type).TypeSize;

    /// <summary>True for block-quantized types (block size &gt; 1).</summary>
    public static bool IsQuantized(GgmlType type) => Checked(type).BlockSize > 1;

    /// <summary>Bytes of a row of <paramref name="elements"/> elements; the count must be a whole number of blocks.</summary>
    public static long RowSize(GgmlType type, long elements)
    {
        var (block, size) = Checked(type);
        if (elements % block != 0)
            throw new ArgumentException($"{elements} elements is not a whole number of {type} blocks of {block}.", nameof(elements));
        return elements / block * size;
    }

    /// <summary>Bits per weight of the type (e.g. 4.5 for Q4_0).</summary>
    public static double BitsPerWeight(GgmlType type)
    {
        var (block, size) = Checked(type);
        return size * 8.0 / block;
    }

    /// <summary>The lower-case name llama.cpp prints ("q4_k", "f16").</summary>
    public static string Name(GgmlType type) => type.ToString().ToLowerInvariant();

    /// <summary>Parses a type name case-insensitively ("Q4_K", "f16").</summary>
    public static bool TryParse(string name, out GgmlType type)
    {
        foreach (var value in Enum.GetValues<GgmlType>())
        {
            if (string.Equals(value.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                type = value;
                return true;
            }
        }
        type = default;
        return false;
    }

    private static (int BlockSize, int TypeSize) Checked(GgmlType type)
    {
        if (!IsKnown(type))
            throw new ArgumentOutOfRangeException(nameof(type), $"Unknown ggml type id {(uint)type}.");
        return Table[(int)type];
    }
}
