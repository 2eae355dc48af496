using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Tensors;

/// <summary>
/// A Q4_0 or Q4_K weight matrix repacked once, at load, into 8-row interleaved groups (the layout family of
/// llama.cpp's CPU "repack" buffer), so decode (<see cref="PackedGemv"/>) and prefill (<see cref="Gemm"/>)
/// read one layout and sum in one order. Same byte count as the source. Per group of 8 rows and per block:
/// Q4_0 (144 B): the 8 f16 scales, then 4 chunks of 32 bytes whose 4-byte lane r holds bytes 4c..4c+3 of row r's nibbles.
/// Q4_K (1152 B): 8 f16 d, 8 f16 dmin, 3 chunks of 32 bytes (lane r: bytes 4t..4t+3 of row r's 12 packed scale bytes),
/// then 32 chunks of 32 bytes (lane r: bytes 4q..4q+3 of row r's 128 nibble bytes).
/// </summary>
internal sealed unsafe partial class PackedWeight : IDisposable
{
    public const int GroupRows = 8;

    // FATHOM_REPACK=0 keeps every weight in the file's layout (A/B measurements of the packed copy).
    private static readonly bool s_enabled = Environment.GetEnvironmentVariable("FATHOM_REPACK") != "0";

    private byte* _data;

    private PackedWeight(TensorView source)
    {
        Source = source;
        Type = source.Type;
        Columns = checked((int)source.Columns);
        Rows = checked((int)source.Rows);
        ByteLength = source.RowBytes * Rows;
        _data = (byte*)NativeMemory.AlignedAlloc((nuint)ByteLength, 64);
        Pack(Type, source.Data, source.RowBytes, Rows, Columns, _data);
    }

    /// <summary>The tensor this was packed from (name, shape; its bytes stay valid but are no longer read by the kernels).</summary>
    public TensorView Source { get; }
    public GgmlType Type { get; }
    public int Columns { get; }
    public int Rows { get; }
    public long ByteLength { get; }
    public byte* Data => _data != null ? _data : throw new ObjectDisposedException(nameof(PackedWeight));

    /// <summary>Bytes of one block of one 8-row group.</summary>
    public static int GroupBlockBytes(GgmlType type) => type == GgmlType.Q4_0 ? 144 : 1152;

    /// <summary>
    /// The packed copy llama.cpp would make on this machine (Q4_0/Q4_K, rows a multiple of 8, not the token
    /// embedding; <see cref="Gemm.InterleavedOrder"/>) where the interleaved kernels run, else null.
    /// </summary>
    public static PackedWeight? TryCreate(TensorView w) =>
        s_enabled && Gemm.IsSupported && Simd.UseAvx2Kernels && w.Data != null && Gemm.InterleavedOrder(w) && w.Rows <= int.MaxValue && w.Columns <= int.MaxValue
            ? new PackedWeight(w) : null;

    /// <summary>An explicit copy whatever the machine (tests; rows must be a multiple of 8).</summary>
    internal static PackedWeight Create(TensorView w)
    {
        if ((w.Type != GgmlType.Q4_0 && w.Type != GgmlType.Q4_K) || w.Rows % GroupRows != 0)
            throw new ArgumentException($"Tensor {w.Name}: only Q4_0/Q4_K with a multiple of 8 rows is packed.", nameof(w));
        return new PackedWeight(w);
    }

    public static void Pack(GgmlType type, byte* src, long rowBytes, int rows, int cols, byte* dst)
    {
        bool q40 = type == GgmlType.Q4_0;
        int nb = cols / (q40 ? 32 : 256), gb = GroupBlockBytes(type);
        for (int g = 0; g < rows / GroupRows; g++)
        {
            for (int b = 0; b < nb; b++)
            {
                byte* o = dst + ((long)g * nb + b) * gb;
                for (int r = 0; r < GroupRows; r++)
                {
                    byte* row = src + (long)(g * GroupRows + r) * rowBytes;
                    if (q40)
                    {
                        var x = (BlockQ4_0*)row + b;
                        ((ushort*)o)[r] = x->D;
                        for (int c = 0; c < 4; c++)
                            *(uint*)(o + 16 + 32 * c + 4 * r) = Unsafe.ReadUnaligned<uint>(x->Qs + 4 * c);
                    }
                    else
                    {
                        var x = (BlockQ4_K*)row + b;
                        ((ushort*)o)[r] = x->D;
                        ((ushort*)o)[GroupRows + r] = x->DMin;
                        for (int t = 0; t < 3; t++)
                            *(uint*)(o + 32 + 32 * t + 4 * r) = Unsafe.ReadUnaligned<uint>(x->Scales + 4 * t);
                        for (int q = 0; q < 32; q++)
                            *(uint*)(o + 128 + 32 * q + 4 * r) = Unsafe.ReadUnaligned<uint>(x->Qs + 4 * q);
                    }
                }
            }
        }
    }

    /// <summary>Row <paramref name="row"/> back in the GGUF block layout (the references and tests read it so).</summary>
    public void UnpackRow(int row, byte* dst)
    {
        bool q40 = Type == GgmlType.Q4_0;
        int nb = Columns / (q40 ? 32 : 256), gb = GroupBlockBytes(Type), g = row / GroupRows, r = row % GroupRows;
        for (int b = 0; b < nb; b++)
        {
            byte* o = Data + ((long)g * nb + b) * gb;
            if (q40)
            {
                var x = (BlockQ4_0*)dst + b;
                x->D = ((ushort*)o)[r];
                for (int c = 0; c < 4; c++)
                    Unsafe.WriteUnaligned(x->Qs + 4 * c, *(uint*)(o + 16 + 32 * c + 4 * r));
            }
            else
            {
                var x = (BlockQ4_K*)dst + b;
                x->D = ((ushort*)o)[r];
                x->DMin = ((ushort*)o)[GroupRows + r];
                for (int t = 0; t < 3; t++)
                    Unsafe.WriteUnaligned(x->Scales + 4 * t, *(uint*)(o + 32 + 32 * t + 4 * r));
                for (int q = 0; q < 32; q++)
                    Unsafe.WriteUnaligned(x->Qs + 4 * q, *(uint*)(o + 128 + 32 * q + 4 * r));
            }
        }
    }

    /// <summary>
    /// Hands the source's pages back to the OS (madvise DONTNEED) so the copy does not add to RSS: only for a
    /// read-only file mapping, whose pages refault from the file if anything reads them again (never for memory
    /// the process owns, which this would zero).
    /// </summary>
    public void ReleaseMappedSource()
    {
        if (!OperatingSystem.IsLinux())
            return;
        nint page = Environment.SystemPageSize;
        nint start = ((nint)Source.Data + page - 1) & ~(page - 1), end = ((nint)Source.Data + (nint)ByteLength) & ~(page - 1);
        if (end > start)
            _ = Madvise(start, (nuint)(end - start), 4);
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }

    ~PackedWeight() => Free();
}
