using System.Runtime.InteropServices;
using System.Text;
using Fathom.Tensors;

namespace Fathom.Gguf;

/// <summary>
/// Writes a GGUF file (version 3 by default): metadata in the order added, then tensor infos, then each
/// tensor's data aligned to <c>general.alignment</c> (32 when absent) and zero-padded. Tensor data is
/// streamed from bytes, a mapped <see cref="TensorView"/> or a callback, so files larger than memory
/// can be written.
/// </summary>
public sealed class GgufWriter
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly Dictionary<string, int> _keyIndex = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);
    private uint _version = 3;

    /// <summary>GGUF version to write: 3 (default) or 2 (same layout; only the number differs).</summary>
    public uint Version
    {
        get => _version;
        set => _version = value is 2 or 3 ? value : throw new ArgumentOutOfRangeException(nameof(value), "GGUF version must be 2 or 3.");
    }

    /// <summary>Metadata added so far, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _metadata;

    /// <summary>The alignment of tensor data: <c>general.alignment</c> when set, else 32.</summary>
    public int Alignment
    {
        get
        {
            if (!_keyIndex.TryGetValue(GgufKeys.General.Alignment, out int i))
                return GgufFile.DefaultAlignment;
            return _metadata[i].Value.Value is uint a && a != 0 && (a & (a - 1)) == 0 && a <= 1u << 30
                ? (int)a
                : throw new InvalidOperationException($"{GgufKeys.General.Alignment} must be a u32 power of two.");
        }
    }

    /// <summary>Adds a metadata key; keys are unique.</summary>
    public void Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (_keyIndex.ContainsKey(key))
            throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        if (key == GgufKeys.General.Alignment && value.Value is not uint)
            throw new ArgumentException($"{GgufKeys.General.Alignment} must be a u32.", nameof(value));
        _keyIndex.Add(key, _metadata.Count);
        _metadata.Add(new(key, value));
    }

    /// <summary>Adds a key or replaces its value in place (keeping its position).</summary>
    public void Set(string key, GgufValue value)
    {
        if (_keyIndex.TryGetValue(key, out int i))
        {
            ArgumentNullException.ThrowIfNull(value);
            _metadata[i] = new(key, value);
        }
        else
        {
            Add(key, value);
        }
    }

    /// <summary>Adds a tensor whose bytes are in memory (the memory must stay unchanged until written).</summary>
    public void AddTensor(string name, GgmlType type, ReadOnlySpan<long> dimensions, ReadOnlyMemory<byte> data)
    {
        long size = Validate(name, type, dimensions);
        if (data.Length != size)
            throw new ArgumentException($"Tensor '{name}' needs {size} bytes, {data.Length} given.", nameof(data));
        Append(name, type, dimensions, size, new TensorSource { Bytes = data });
    }

    /// <summary>
    /// Adds a tensor whose bytes are produced at write time: <paramref name="writeData"/> must write exactly
    /// the tensor's byte size to the stream it is given.
    /// </summary>
    public void AddTensor(string name, GgmlType type, ReadOnlySpan<long> dimensions, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(writeData);
        long size = Validate(name, type, dimensions);
        Append(name, type, dimensions, size, new TensorSource { Callback = writeData });
    }

    /// <summary>Adds a tensor copied from a view (usually into another mapped file, which must stay open until written).</summary>
    public void AddTensor(TensorView view)
    {
        long size = Validate(view.Name, view.Type, view.Shape);
        if (size != view.ByteLength)
            throw new ArgumentException($"Tensor '{view.Name}' view holds {view.ByteLength} bytes, its shape needs {size}.", nameof(view));
        Append(view.Name, view.Type, view.Shape, size, new TensorSource { View = view, HasView = true });
    }

    /// <summary>A writer holding all of <paramref name="file"/>'s metadata and tensors (the file must stay open until written).</summary>
    public static GgufWriter From(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var w = new GgufWriter { Version = file.Version };
        foreach (var (key, value) in file.Metadata)
            w.Add(key, value);
        // The view is taken at write time, so a file disposed in between fails cleanly instead of reading freed memory.
        foreach (var info in file.Tensors)
            w.AddTensor(info.Name, info.Type, info.Dimensions, stream => CopyView(file.View(info), stream));
        return w;
    }

    /// <summary>Total bytes <see cref="WriteTo(Stream, IProgress{long}?, CancellationToken)"/> will write.</summary>
    public long ComputeFileSize()
    {
        var counter = new CountingStream(Stream.Null);
        WriteHeader(counter);
        return _tensors.Count == 0 ? counter.Position : GgufFile.AlignUp(counter.Position, Alignment) + DataSectionSize();
    }

    public void WriteTo(string path, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        WriteTo(stream, progress, cancellationToken);
    }

    /// <summary>Writes the whole file; <paramref name="progress"/> receives the bytes written so far.</summary>
    public void WriteTo(Stream stream, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF writing needs a little-endian machine.");
        var output = new CountingStream(stream, progress);
        WriteHeader(output);
        if (_tensors.Count == 0)
        {
            output.Flush();
            return;
        }
        int alignment = Alignment;
        WritePadding(output, alignment);
        long dataStart = output.Position;
        foreach (var t in _tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long before = output.Position;
            if (before - dataStart != t.Offset)
                throw new InvalidOperationException($"Tensor '{t.Name}' would be written at {before - dataStart}, not its offset {t.Offset}.");
            WriteData(output, t);
            long written = output.Position - before;
            if (written != t.Size)
                throw new InvalidOperationException($"Tensor '{t.Name}' data callback wrote {written} bytes, expected {t.Size}.");
            WritePadding(output, alignment);
        }
        output.Flush();
    }

    private long DataSectionSize()
    {
        if (_tensors.Count == 0)
            return 0;
        int alignment = Alignment;
        var last = _tensors[^1];
        return GgufFile.AlignUp(last.Offset + last.Size, alignment);
    }

    private static void WriteData(CountingStream output, PendingTensor t)
    {
        var src = t.Source;
        if (src.Callback is not null)
        {
            using var limited = new LimitedStream(output, t.Size, t.Name);
            src.Callback(limited);
        }
        else if (src.HasView)
        {
            CopyView(src.View, output);
        }
        else
        {
            output.Write(src.Bytes.Span);
        }
    }

    private static unsafe void CopyView(TensorView view, Stream output)
    {
        const int Chunk = 1 << 20;
        byte* p = view.Data;
        for (long off = 0; off < view.ByteLength; off += Chunk)
            output.Write(new ReadOnlySpan<byte>(p + off, (int)Math.Min(Chunk, view.ByteLength - off)));
    }

    private static void WritePadding(CountingStream output, int alignment)
    {
        long pad = GgufFile.AlignUp(output.Position, alignment) - output.Position;
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (pad > 0)
        {
            int n = (int)Math.Min(pad, zeros.Length);
            output.Write(zeros[..n]);
            pad -= n;
        }
    }

    private long Validate(string name, GgmlType type, ReadOnlySpan<long> dimensions)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_tensorNames.Contains(name))
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        if (Utf8Length(name) > GgufFile.MaxTensorNameBytes)
            throw new ArgumentException($"Tensor name '{name}' is longer than {GgufFile.MaxTensorNameBytes} bytes.", nameof(name));
        if (!GgmlTypeInfo.IsKnown(type))
            throw new ArgumentOutOfRangeException(nameof(type), $"Unknown ggml type id {(uint)type}.");
        if (dimensions.Length > GgufFile.MaxDimensions)
            throw new ArgumentException($"Tensor '{name}' has {dimensions.Length} dimensions (at most {GgufFile.MaxDimensions}).", nameof(dimensions));
        long rows = 1;
        foreach (long d in dimensions[Math.Min(1, dimensions.Length)..])
        {
            if (d < 0)
                throw new ArgumentException($"Tensor '{name}' has a negative dimension.", nameof(dimensions));
            rows = checked(rows * d);
        }
        long ne0 = dimensions.Length > 0 ? dimensions[0] : 1;
        if (ne0 < 0)
            throw new ArgumentException($"Tensor '{name}' has a negative dimension.", nameof(dimensions));
        _ = checked(ne0 * rows);
        return checked(GgmlTypeInfo.RowSize(type, ne0) * rows);
    }

    private void Append(string name, GgmlType type, ReadOnlySpan<long> dimensions, long size, TensorSource source)
    {
        long offset = 0;
        if (_tensors.Count > 0)
        {
            var last = _tensors[^1];
            offset = last.Offset + last.Size; // aligned at write time and in WriteHeader
        }
        _tensorNames.Add(name);
        _tensors.Add(new PendingTensor(name, type, dimensions.ToArray(), offset, size, source));
    }

    private void WriteHeader(CountingStream output)
    {
        int alignment = Alignment;
        using var w = new BinaryWriter(output, StrictUtf8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(_version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            offset = GgufFile.AlignUp(offset, alignment);
            _tensors[i] = t with { Offset = offset };
            WriteString(w, t.Name);
            w.Write((uint)t.Dimensions.Length);
            foreach (long d in t.Dimensions)
                w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset += t.Size;
        }
        w.Flush();
    }

    private static void WriteValue(BinaryWriter w, GgufValue value)
    {
        switch (value.Value)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            case GgufArray a: WriteArray(w, a); break;
            default: throw new ArgumentException($"Unsupported metadata value {value.Value.GetType().Name}.", nameof(value));
        }
    }

    private static void WriteArray(BinaryWriter w, GgufArray a)
    {
        w.Write((uint)a.ElementType);
        w.Write((ulong)a.Count);
        switch (a.Items)
        {
            case string[] items:
                foreach (string s in items)
                    WriteString(w, s);
                break;
            case bool[] items:
                foreach (bool b in items)
                    w.Write((byte)(b ? 1 : 0));
                break;
            case GgufArray[] items:
                foreach (var inner in items)
                    WriteArray(w, inner);
                break;
            case byte[] items: w.Write(items); break;
            case sbyte[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case ushort[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case short[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case uint[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case int[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case float[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case ulong[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case long[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case double[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            default: throw new ArgumentException($"Unsupported array items {a.Items.GetType().Name}.", nameof(a));
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        int n = Utf8Length(s);
        w.Write((ulong)n);
        if (n <= 1024)
        {
            Span<byte> buf = stackalloc byte[n];
            StrictUtf8.GetBytes(s, buf);
            w.Write(buf);
        }
        else
        {
            w.Write(StrictUtf8.GetBytes(s));
        }
    }

    private static int Utf8Length(string s)
    {
        try
        {
            return StrictUtf8.GetByteCount(s);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException($"String is not valid UTF-16 (lone surrogate): {ex.Message}", nameof(s), ex);
        }
    }

    private struct TensorSource
    {
        public ReadOnlyMemory<byte> Bytes;
        public Action<Stream>? Callback;
        public TensorView View;
        public bool HasView;
    }

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dimensions, long Offset, long Size, TensorSource Source);

    /// <summary>Write-only pass-through that tracks the position and reports progress.</summary>
    private sealed class CountingStream(Stream inner, IProgress<long>? progress = null) : Stream
    {
        private const long ReportEvery = 16 << 20;
        private long _position;
        private long _lastReport;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _position;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _position += buffer.Length;
            if (progress is not null && _position - _lastReport >= ReportEvery)
            {
                _lastReport = _position;
                progress.Report(_position);
            }
        }

        public override void WriteByte(byte value) => Write([value]);

        public override void Flush()
        {
            inner.Flush();
            progress?.Report(_position);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>What a tensor callback writes into: refuses bytes beyond the tensor's size.</summary>
    private sealed class LimitedStream(CountingStream inner, long limit, string name) : Stream
    {
        private long _written;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length > limit - _written)
                throw new InvalidOperationException($"Tensor '{name}' data callback wrote more than its {limit} bytes.");
            inner.Write(buffer);
            _written += buffer.Length;
        }

        public override void WriteByte(byte value) => Write([value]);
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
