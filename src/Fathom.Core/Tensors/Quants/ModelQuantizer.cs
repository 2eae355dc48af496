using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Fathom.Gguf;

namespace Fathom.Tensors.Quants;

/// <summary>Options of <see cref="ModelQuantizer.Quantize"/>.</summary>
public sealed record ModelQuantizeOptions(QuantFileType FileType, bool Pure = false, bool AllowRequantize = false);

/// <summary>
/// Rewrites a GGUF model with its weights quantized, as llama-quantize does: same metadata (with
/// <c>general.quantization_version</c> and <c>general.file_type</c> moved to the end), tensors in
/// llama.cpp's order, each converted to the type <see cref="QuantRecipe"/> chooses.
/// </summary>
public static unsafe class ModelQuantizer
{
    public const uint QuantizationVersion = 2;
    private const int ChunkBytes = 32 << 20;

    /// <summary>Quantizes <paramref name="input"/> into a new file at <paramref name="outputPath"/>; returns the plan it followed.</summary>
    public static IReadOnlyList<TensorQuantPlan> Quantize(GgufFile input, string outputPath, ModelQuantizeOptions options,
        IProgress<TensorQuantPlan>? progress = null, CancellationToken cancellationToken = default)
    {
        var plan = QuantRecipe.Plan(input, options.FileType, options.Pure);
        foreach (var p in plan)
        {
            if (!p.Converts) continue;
            if (GgmlTypeInfo.IsQuantized(p.Source.Type) && !options.AllowRequantize)
                throw new InvalidDataException($"Tensor {p.Source.Name} is already {GgmlTypeInfo.Name(p.Source.Type)}; requantizing is disabled (it loses quality).");
            if (!Dequantize.IsSupported(p.Source.Type))
                throw new InvalidDataException($"Tensor {p.Source.Name}: cannot read {GgmlTypeInfo.Name(p.Source.Type)} data.");
            if (!Tensors.Quants.Quantize.IsSupported(p.Target))
                throw new InvalidDataException($"Tensor {p.Source.Name}: cannot write {GgmlTypeInfo.Name(p.Target)}.");
        }
        string tmp = outputPath + ".tmp";
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Write(input, plan, options.FileType, stream, progress, cancellationToken);
            }
            File.Move(tmp, outputPath, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        return plan;
    }

    private static void Write(GgufFile input, IReadOnlyList<TensorQuantPlan> plan, QuantFileType ftype, Stream output,
        IProgress<TensorQuantPlan>? progress, CancellationToken ct)
    {
        int alignment = input.Alignment;
        var metadata = input.Metadata
            .Where(kv => kv.Key is not (GgufKeys.General.QuantizationVersion or GgufKeys.General.FileType)
                && !kv.Key.StartsWith("split.", StringComparison.Ordinal))
            .ToList();
        metadata.Add(new(GgufKeys.General.QuantizationVersion, GgufValue.Of(QuantizationVersion)));
        metadata.Add(new(GgufKeys.General.FileType, GgufValue.Of((uint)ftype)));

        var header = new HeaderWriter();
        header.U32(GgufFile.Magic);
        header.U32(3);
        header.U64((ulong)plan.Count);
        header.U64((ulong)metadata.Count);
        foreach (var kv in metadata)
        {
            header.Str(kv.Key);
            header.U32((uint)kv.Value.Type);
            header.Value(kv.Value.Type, kv.Value.Value);
        }
        long offset = 0;
        var sizes = new long[plan.Count];
        for (int i = 0; i < plan.Count; i++)
        {
            var t = plan[i].Source;
            int dims = QuantRecipe.NDims(t);
            header.Str(t.Name);
            header.U32((uint)dims);
            for (int d = 0; d < dims; d++)
                header.U64((ulong)t.Dimensions[d]);
            header.U32((uint)plan[i].Target);
            header.U64((ulong)offset);
            sizes[i] = GgmlTypeInfo.RowSize(plan[i].Target, t.Dimensions[0]) * (t.ElementCount / t.Dimensions[0]);
            offset += Pad(sizes[i], alignment);
        }
        header.PadTo(alignment);
        header.CopyTo(output);

        for (int i = 0; i < plan.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var p = plan[i];
            var view = input.View(p.Source);
            if (!p.Converts)
                CopyBytes(view, output);
            else
                Convert(view, p.Target, output, ct);
            output.Write(new byte[Pad(sizes[i], alignment) - sizes[i]]);
            progress?.Report(p);
        }
    }

    private static long Pad(long n, int alignment) => (n + alignment - 1) / alignment * alignment;

    private static void CopyBytes(TensorView view, Stream output)
    {
        for (long at = 0; at < view.ByteLength; at += ChunkBytes)
        {
            int n = (int)Math.Min(ChunkBytes, view.ByteLength - at);
            output.Write(new ReadOnlySpan<byte>(view.Data + at, n));
        }
    }

    private static void Convert(TensorView view, GgmlType target, Stream output, CancellationToken ct)
    {
        int cols = checked((int)view.Columns);
        long rows = view.Rows;
        long srcRow = view.RowBytes;
        int dstRow = checked((int)GgmlTypeInfo.RowSize(target, cols));
        int srcBlocks = cols / GgmlTypeInfo.BlockSize(view.Type);
        int rowsPerChunk = Math.Max(1, ChunkBytes / Math.Max(dstRow, cols * 4));
        var buffer = new byte[(long)Math.Min(rows, rowsPerChunk) * dstRow];
        byte* src = view.Data;
        for (long r0 = 0; r0 < rows; r0 += rowsPerChunk)
        {
            ct.ThrowIfCancellationRequested();
            int n = (int)Math.Min(rowsPerChunk, rows - r0);
            long first = r0;
            Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, () => new float[cols], (r, _, row) =>
            {
                fixed (float* f = row)
                    Dequantize.RowUnchecked(view.Type, src + (first + r) * srcRow, f, srcBlocks);
                Tensors.Quants.Quantize.Row(target, row, buffer.AsSpan(r * dstRow, dstRow));
                return row;
            }, _ => { });
            output.Write(buffer, 0, n * dstRow);
        }
    }

    /// <summary>The GGUF header (metadata and tensor infos) in memory; it is small next to the data.</summary>
    private sealed class HeaderWriter
    {
        private readonly ArrayBufferWriter<byte> _ms = new(1 << 16);
        private readonly byte[] _scratch = new byte[8];

        public void U32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(_scratch, v); _ms.Write(_scratch.AsSpan(0, 4)); }
        public void U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(_scratch, v); _ms.Write(_scratch.AsSpan(0, 8)); }

        private void Byte(byte b) => _ms.Write([b]);

        public void Str(string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            U64((ulong)bytes.Length);
            _ms.Write(bytes.AsSpan());
        }

        public void Value(GgufValueType type, object value)
        {
            switch (type)
            {
                case GgufValueType.UInt8: Byte((byte)value); break;
                case GgufValueType.Int8: Byte(unchecked((byte)(sbyte)value)); break;
                case GgufValueType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(_scratch, (ushort)value); _ms.Write(_scratch.AsSpan(0, 2)); break;
                case GgufValueType.Int16: BinaryPrimitives.WriteInt16LittleEndian(_scratch, (short)value); _ms.Write(_scratch.AsSpan(0, 2)); break;
                case GgufValueType.UInt32: U32((uint)value); break;
                case GgufValueType.Int32: U32(unchecked((uint)(int)value)); break;
                case GgufValueType.Float32: U32(BitConverter.SingleToUInt32Bits((float)value)); break;
                case GgufValueType.Bool: Byte((bool)value ? (byte)1 : (byte)0); break;
                case GgufValueType.String: Str((string)value); break;
                case GgufValueType.UInt64: U64((ulong)value); break;
                case GgufValueType.Int64: U64(unchecked((ulong)(long)value)); break;
                case GgufValueType.Float64: U64(BitConverter.DoubleToUInt64Bits((double)value)); break;
                case GgufValueType.Array:
                    var a = (GgufArray)value;
                    U32((uint)a.ElementType);
                    U64((ulong)a.Count);
                    foreach (object item in a.Items)
                        Value(a.ElementType, item);
                    break;
                default: throw new InvalidDataException($"Cannot write GGUF value type {type}.");
            }
        }

        public void PadTo(int alignment)
        {
            while (_ms.WrittenCount % alignment != 0)
                Byte(0);
        }

        public void CopyTo(Stream output)
        {
            output.Write(_ms.WrittenSpan);
        }
    }
}
