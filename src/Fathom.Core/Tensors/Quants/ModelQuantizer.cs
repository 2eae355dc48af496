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
            if (p.Source.Dimensions[0] % GgmlTypeInfo.BlockSize(p.Target) != 0)
                throw new InvalidDataException($"Tensor {p.Source.Name}: rows of {p.Source.Dimensions[0]} are not a whole number of {GgmlTypeInfo.Name(p.Target)} blocks of {GgmlTypeInfo.BlockSize(p.Target)}" + (options.Pure ? "; without --pure a compatible type is chosen." : "."));
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
        var writer = new GgufWriter();
        foreach (var (key, value) in input.Metadata)
        {
            if (key is GgufKeys.General.QuantizationVersion or GgufKeys.General.FileType || key.StartsWith("split.", StringComparison.Ordinal))
                continue;
            writer.Add(key, value);
        }
        writer.Add(GgufKeys.General.QuantizationVersion, GgufValue.Of(QuantizationVersion));
        writer.Add(GgufKeys.General.FileType, GgufValue.Of((uint)ftype));
        foreach (var p in plan)
        {
            var view = input.View(p.Source);
            // llama.cpp writes ggml_n_dims dimensions: trailing 1s are dropped.
            var dims = p.Source.Dimensions.AsSpan(0, QuantRecipe.NDims(p.Source));
            writer.AddTensor(p.Source.Name, p.Target, dims, stream =>
            {
                ct.ThrowIfCancellationRequested();
                if (p.Converts)
                    Convert(view, p.Target, stream, ct);
                else
                    CopyBytes(view, stream);
                progress?.Report(p);
            });
        }
        writer.WriteTo(output, cancellationToken: ct);
    }

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
}
