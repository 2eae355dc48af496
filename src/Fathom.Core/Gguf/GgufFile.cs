using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using Fathom.Tensors;

namespace Fathom.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3), memory-mapped. The header is parsed and validated once at open;
/// tensors are exposed as <see cref="TensorView"/>s into the mapping and never copied.
/// Any malformation raises <see cref="GgufFormatException"/> with the byte offset; allocation during
/// parsing is bounded by the file's size.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    public const int DefaultAlignment = 32;
    public const int MaxDimensions = 4;
    public const int MaxTensorNameBytes = 63;
    internal const int MaxArrayNesting = 8;

    private readonly Dictionary<string, int> _keyIndex;
    private readonly Dictionary<string, int> _tensorIndex;
    private readonly List<KeyValuePair<string, GgufValue>> _metadata;
    private readonly List<GgufTensorInfo> _tensors;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private GCHandle _pin;
    private byte* _base;

    private GgufFile(string? path, byte* basePtr, long length, in Parsed parsed)
    {
        Path = path;
        _base = basePtr;
        FileSize = length;
        Version = parsed.Version;
        Alignment = parsed.Alignment;
        DataOffset = parsed.DataOffset;
        _metadata = parsed.Metadata;
        _tensors = parsed.Tensors;
        _keyIndex = parsed.KeyIndex;
        _tensorIndex = parsed.TensorIndex;
    }

    /// <summary>The path the file was opened from (null for in-memory files).</summary>
    public string? Path { get; }
    public uint Version { get; }
    public long FileSize { get; }
    public int Alignment { get; }

    /// <summary>Absolute offset of the tensor data section.</summary>
    public long DataOffset { get; }

    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _metadata;

    /// <summary>Tensor infos in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors;

    /// <summary>Opens and validates a GGUF file, memory-mapping it read-only.</summary>
    public static GgufFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        long length = stream.Length;
        if (length < 8)
            throw new GgufFormatException(length, length < 4 ? "file too short for the GGUF magic" : "file too short for the GGUF version", path);
        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            p += view.PointerOffset;
            var parsed = Parse(p, length, path);
            return new GgufFile(path, p, length, parsed) { _map = map, _view = view };
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }
            map.Dispose();
            throw;
        }
    }

    /// <summary>Parses a GGUF image held in memory (the array is pinned for the object's lifetime).</summary>
    public static GgufFile FromBytes(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 8)
            throw new GgufFormatException(bytes.Length, bytes.Length < 4 ? "file too short for the GGUF magic" : "file too short for the GGUF version");
        var pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        try
        {
            byte* p = (byte*)pin.AddrOfPinnedObject();
            var parsed = Parse(p, bytes.Length, null);
            return new GgufFile(null, p, bytes.Length, parsed) { _pin = pin };
        }
        catch
        {
            pin.Free();
            throw;
        }
    }

    // ---- metadata access -------------------------------------------------------------------

    public bool ContainsKey(string key) => _keyIndex.ContainsKey(key);

    /// <summary>The value of <paramref name="key"/>, or null when absent.</summary>
    public GgufValue? Find(string key) => _keyIndex.TryGetValue(key, out int i) ? _metadata[i].Value : null;

    public GgufValue Get(string key) => Find(key) ?? throw Missing(key);

    public string GetString(string key) => AsString(key, Get(key));
    public string? GetStringOrNull(string key) => Find(key) is { } v ? AsString(key, v) : null;

    public bool GetBool(string key) => AsBool(key, Get(key));
    public bool? GetBoolOrNull(string key) => Find(key) is { } v ? AsBool(key, v) : null;

    public uint GetUInt32(string key) => (uint)AsInteger(key, Get(key), "u32", uint.MinValue, uint.MaxValue);
    public uint? GetUInt32OrNull(string key) => Find(key) is { } v ? (uint)AsInteger(key, v, "u32", uint.MinValue, uint.MaxValue) : null;

    public int GetInt32(string key) => (int)AsInteger(key, Get(key), "i32", int.MinValue, int.MaxValue);
    public int? GetInt32OrNull(string key) => Find(key) is { } v ? (int)AsInteger(key, v, "i32", int.MinValue, int.MaxValue) : null;

    public ulong GetUInt64(string key) => AsUInt64(key, Get(key));
    public ulong? GetUInt64OrNull(string key) => Find(key) is { } v ? AsUInt64(key, v) : null;

    public float GetFloat32(string key) => AsFloat(key, Get(key));
    public float? GetFloat32OrNull(string key) => Find(key) is { } v ? AsFloat(key, v) : null;

    /// <summary>An array value as <typeparamref name="T"/>[] (a copy); T must be the array's element CLR type.</summary>
    public T[] GetArray<T>(string key) => AsArray<T>(key, Get(key));
    public T[]? GetArrayOrNull<T>(string key) => Find(key) is { } v ? AsArray<T>(key, v) : null;

    /// <summary>Length of an array value without copying it, or null when absent.</summary>
    public int? GetArrayLength(string key) => Find(key) is { } v ? (v.Value as GgufArray ?? throw WrongType(key, "array", v)).Count : null;

    // ---- tensors ---------------------------------------------------------------------------

    public GgufTensorInfo? FindTensorInfo(string name) => _tensorIndex.TryGetValue(name, out int i) ? _tensors[i] : null;

    public bool TryGetTensor(string name, out TensorView view)
    {
        if (FindTensorInfo(name) is { } info)
        {
            view = View(info);
            return true;
        }
        view = default;
        return false;
    }

    /// <summary>A view of the named tensor; <see cref="GgufMetadataException"/> when the file has none.</summary>
    public TensorView GetTensor(string name) => TryGetTensor(name, out var view)
        ? view
        : throw new GgufMetadataException(name, $"{Describe()}: tensor '{name}' not found");

    public TensorView View(GgufTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return new TensorView(info.Name, info.Type, info.Dimensions, _base + info.FileOffset, info.ByteSize);
    }

    /// <summary>Sum of all tensors' element counts.</summary>
    public long ParameterCount => _tensors.Sum(t => t.ElementCount);

    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _view = null;
        }
        _map?.Dispose();
        _map = null;
        if (_pin.IsAllocated)
            _pin.Free();
        _base = null;
    }

    // ---- typed conversion helpers ------------------------------------------------------------

    private string Describe() => Path ?? "GGUF";

    private GgufMetadataException Missing(string key) => new(key, $"{Describe()}: metadata key '{key}' not found");

    private GgufMetadataException WrongType(string key, string expected, GgufValue actual) =>
        new(key, $"{Describe()}: metadata key '{key}' is {TypeText(actual)}, expected {expected}");

    private static string TypeText(GgufValue v) => v.Value is GgufArray a
        ? $"array of {GgufArray.TypeName(a.ElementType)}"
        : GgufArray.TypeName(v.Type);

    private string AsString(string key, GgufValue v) => v.Value as string ?? throw WrongType(key, "string", v);

    private bool AsBool(string key, GgufValue v) => v.Value is bool b ? b : throw WrongType(key, "bool", v);

    private long AsInteger(string key, GgufValue v, string expected, long min, long max)
    {
        long value;
        switch (v.Value)
        {
            case byte x: value = x; break;
            case sbyte x: value = x; break;
            case ushort x: value = x; break;
            case short x: value = x; break;
            case uint x: value = x; break;
            case int x: value = x; break;
            case long x: value = x; break;
            case ulong x when x <= long.MaxValue: value = (long)x; break;
            default: throw WrongType(key, expected, v);
        }
        if (value < min || value > max)
            throw new GgufMetadataException(key, $"{Describe()}: metadata key '{key}' = {value} does not fit {expected}");
        return value;
    }

    private ulong AsUInt64(string key, GgufValue v) => v.Value is ulong u ? u : (ulong)AsInteger(key, v, "u64", 0, long.MaxValue);

    private float AsFloat(string key, GgufValue v) => v.Value switch
    {
        float f => f,
        double d => (float)d,
        _ => throw WrongType(key, "f32", v),
    };

    private T[] AsArray<T>(string key, GgufValue v)
    {
        if (v.Value is not GgufArray a)
            throw WrongType(key, $"array of {typeof(T).Name}", v);
        if (a.Items is T[] items)
            return (T[])items.Clone();
        throw WrongType(key, $"array of {typeof(T).Name}", v);
    }

    // ---- parsing -----------------------------------------------------------------------------

    private readonly struct Parsed
    {
        public uint Version { get; init; }
        public int Alignment { get; init; }
        public long DataOffset { get; init; }
        public List<KeyValuePair<string, GgufValue>> Metadata { get; init; }
        public List<GgufTensorInfo> Tensors { get; init; }
        public Dictionary<string, int> KeyIndex { get; init; }
        public Dictionary<string, int> TensorIndex { get; init; }
    }

    private static Parsed Parse(byte* p, long length, string? path)
    {
        var r = new Reader(p, length, path);
        uint magic = r.U32();
        if (magic != Magic)
            throw r.Fail(0, $"bad magic 0x{magic:X8} (expected \"GGUF\")");
        uint version = r.U32();
        if (version is 0x02000000 or 0x03000000)
            throw r.Fail(4, "big-endian GGUF files are not supported");
        if (version is not (2 or 3))
            throw r.Fail(4, version == 1 ? "GGUF version 1 is not supported (only 2 and 3)" : $"unsupported GGUF version {version} (only 2 and 3)");

        long tensorCountAt = r.Position;
        ulong tensorCount = r.U64();
        long kvCountAt = r.Position;
        ulong kvCount = r.U64();
        // Each tensor info takes at least 24 bytes, each key/value at least 13: counts beyond that cannot be real.
        if (tensorCount > (ulong)(r.Remaining / 24))
            throw r.Fail(tensorCountAt, $"tensor count {tensorCount} is more than the file could hold");
        if (kvCount > (ulong)(r.Remaining / 13))
            throw r.Fail(kvCountAt, $"metadata count {kvCount} is more than the file could hold");

        // Capacities are capped: the counts are only plausible, not yet proven by the bytes that follow.
        var metadata = new List<KeyValuePair<string, GgufValue>>((int)Math.Min(kvCount, 1024));
        var keyIndex = new Dictionary<string, int>((int)Math.Min(kvCount, 1024), StringComparer.Ordinal);
        long alignmentAt = 16;
        for (ulong i = 0; i < kvCount; i++)
        {
            long keyAt = r.Position;
            string key = r.String("metadata key");
            if (key.Length == 0)
                throw r.Fail(keyAt, "empty metadata key");
            if (keyIndex.ContainsKey(key))
                throw r.Fail(keyAt, $"duplicate metadata key '{key}'");
            long typeAt = r.Position;
            uint typeId = r.U32();
            if (typeId > (uint)GgufValueType.Float64)
                throw r.Fail(typeAt, $"unknown metadata value type {typeId} for key '{key}'");
            if (key == GgufKeys.General.Alignment)
                alignmentAt = typeAt;
            var value = r.Value((GgufValueType)typeId, key, 0);
            keyIndex.Add(key, metadata.Count);
            metadata.Add(new(key, value));
        }

        int alignment = DefaultAlignment;
        if (keyIndex.TryGetValue(GgufKeys.General.Alignment, out int alignIdx))
        {
            var av = metadata[alignIdx].Value;
            if (av.Value is not uint a)
                throw r.Fail(alignmentAt, $"{GgufKeys.General.Alignment} must be u32, found {GgufArray.TypeName(av.Type)}");
            if (a == 0 || (a & (a - 1)) != 0 || a > 1u << 30)
                throw r.Fail(alignmentAt, $"{GgufKeys.General.Alignment} = {a} is not a power of two of at most 2^30");
            alignment = (int)a;
        }

        int tensorCapacity = (int)Math.Min(tensorCount, 1024);
        var tensors = new List<GgufTensorInfo>(tensorCapacity);
        var tensorIndex = new Dictionary<string, int>(tensorCapacity, StringComparer.Ordinal);
        var rawOffsets = new List<(long Offset, long At)>(tensorCapacity);
        var pending = new List<(string Name, GgmlType Type, long[] Dims, long Size, long At)>(tensorCapacity);
        for (ulong i = 0; i < tensorCount; i++)
        {
            long at = r.Position;
            string name = r.String("tensor name");
            if (Encoding.UTF8.GetByteCount(name) > MaxTensorNameBytes)
                throw r.Fail(at, $"tensor name '{name[..Math.Min(name.Length, 40)]}…' is longer than {MaxTensorNameBytes} bytes");
            if (tensorIndex.ContainsKey(name))
                throw r.Fail(at, $"duplicate tensor name '{name}'");
            long dimsAt = r.Position;
            uint nDims = r.U32();
            if (nDims > MaxDimensions)
                throw r.Fail(dimsAt, $"tensor '{name}' has {nDims} dimensions (at most {MaxDimensions})");
            var dims = new long[nDims];
            for (int d = 0; d < nDims; d++)
            {
                long dimAt = r.Position;
                ulong dim = r.U64();
                if (dim > long.MaxValue)
                    throw r.Fail(dimAt, $"tensor '{name}' dimension {d} = {dim} is out of range");
                dims[d] = (long)dim;
            }
            long typeAt = r.Position;
            uint typeId = r.U32();
            if (!GgmlTypeInfo.IsKnown(typeId))
                throw r.Fail(typeAt, $"tensor '{name}' has unknown type id {typeId}");
            var type = (GgmlType)typeId;
            long offsetAt = r.Position;
            ulong offset = r.U64();
            long size = TensorBytes(ref r, name, type, dims, dimsAt);
            if (offset > long.MaxValue)
                throw r.Fail(offsetAt, $"tensor '{name}' offset {offset} is out of range");
            if (offset % (ulong)alignment != 0)
                throw r.Fail(offsetAt, $"tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}");
            rawOffsets.Add(((long)offset, offsetAt));
            tensorIndex.Add(name, tensors.Count);
            pending.Add((name, type, dims, size, at));
            tensors.Add(null!);
        }

        long dataOffset = AlignUp(r.Position, alignment);
        long dataBytes = length - dataOffset;
        for (int i = 0; i < pending.Count; i++)
        {
            var (name, type, dims, size, _) = pending[i];
            var (offset, offsetAt) = rawOffsets[i];
            // Empty tensors too must point inside the data section, so FileOffset never overflows.
            if (dataBytes < 0 ? size > 0 || offset > 0 : offset > dataBytes || size > dataBytes - offset)
                throw r.Fail(offsetAt, $"tensor '{name}' data [{offset}, {offset + size}) lies outside the file's data section of {Math.Max(dataBytes, 0)} bytes");
            tensors[i] = new GgufTensorInfo(name, type, dims, offset, dataOffset + offset, size);
        }

        var byOffset = Enumerable.Range(0, tensors.Count).Where(i => tensors[i].ByteSize > 0)
            .OrderBy(i => tensors[i].Offset).ToArray();
        for (int k = 1; k < byOffset.Length; k++)
        {
            var prev = tensors[byOffset[k - 1]];
            var cur = tensors[byOffset[k]];
            if (prev.Offset + prev.ByteSize > cur.Offset)
                throw r.Fail(rawOffsets[byOffset[k]].At, $"tensor '{cur.Name}' overlaps tensor '{prev.Name}'");
        }

        return new Parsed
        {
            Version = version,
            Alignment = alignment,
            DataOffset = dataOffset,
            Metadata = metadata,
            Tensors = tensors,
            KeyIndex = keyIndex,
            TensorIndex = tensorIndex,
        };
    }

    private static long TensorBytes(ref Reader r, string name, GgmlType type, long[] dims, long dimsAt)
    {
        int block = GgmlTypeInfo.BlockSize(type);
        long ne0 = dims.Length > 0 ? dims[0] : 1;
        if (ne0 % block != 0)
            throw r.Fail(dimsAt, $"tensor '{name}' row of {ne0} elements is not a whole number of {type} blocks of {block}");
        try
        {
            long rows = 1;
            for (int d = 1; d < dims.Length; d++)
                rows = checked(rows * dims[d]);
            long elements = checked(ne0 * rows);
            _ = elements;
            return checked(ne0 / block * GgmlTypeInfo.TypeSize(type) * rows);
        }
        catch (OverflowException)
        {
            throw r.Fail(dimsAt, $"tensor '{name}' dimensions [{string.Join(", ", dims)}] overflow 64 bits");
        }
    }

    internal static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    /// <summary>A bounds-checked little-endian cursor over the mapped bytes.</summary>
    private ref struct Reader
    {
        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        private readonly byte* _p;
        private readonly long _length;
        private readonly string? _path;
        private long _pos;

        public Reader(byte* p, long length, string? path)
        {
            _p = p;
            _length = length;
            _path = path;
            _pos = 0;
        }

        public readonly long Position => _pos;
        public readonly long Remaining => _length - _pos;

        public readonly GgufFormatException Fail(long at, string problem) => new(at, problem, _path);

        private void Need(long n, string what)
        {
            if (n > _length - _pos)
                throw Fail(_pos, $"file truncated: {what} needs {n} bytes, {_length - _pos} remain");
        }

        public byte U8() { Need(1, "a u8"); return _p[_pos++]; }
        public ushort U16() { Need(2, "a u16"); ushort v = *(ushort*)(_p + _pos); _pos += 2; return v; }
        public uint U32() { Need(4, "a u32"); uint v = *(uint*)(_p + _pos); _pos += 4; return v; }
        public ulong U64() { Need(8, "a u64"); ulong v = *(ulong*)(_p + _pos); _pos += 8; return v; }

        public string String(string what)
        {
            long at = _pos;
            ulong len = U64();
            if (len > (ulong)Remaining)
                throw Fail(at, $"{what} length {len} exceeds the {Remaining} bytes left in the file");
            if (len > int.MaxValue)
                throw Fail(at, $"{what} length {len} is too large");
            var span = new ReadOnlySpan<byte>(_p + _pos, (int)len);
            string s;
            try
            {
                s = StrictUtf8.GetString(span);
            }
            catch (DecoderFallbackException)
            {
                throw Fail(_pos, $"{what} is not valid UTF-8");
            }
            _pos += (long)len;
            return s;
        }

        public GgufValue Value(GgufValueType type, string key, int depth)
        {
            long at = _pos;
            switch (type)
            {
                case GgufValueType.UInt8: return GgufValue.Of(U8());
                case GgufValueType.Int8: return GgufValue.Of((sbyte)U8());
                case GgufValueType.UInt16: return GgufValue.Of(U16());
                case GgufValueType.Int16: return GgufValue.Of((short)U16());
                case GgufValueType.UInt32: return GgufValue.Of(U32());
                case GgufValueType.Int32: return GgufValue.Of((int)U32());
                case GgufValueType.Float32: return GgufValue.Of(BitConverter.UInt32BitsToSingle(U32()));
                case GgufValueType.UInt64: return GgufValue.Of(U64());
                case GgufValueType.Int64: return GgufValue.Of((long)U64());
                case GgufValueType.Float64: return GgufValue.Of(BitConverter.UInt64BitsToDouble(U64()));
                case GgufValueType.Bool:
                    byte b = U8();
                    if (b > 1)
                        throw Fail(at, $"bool value {b} for key '{key}' is neither 0 nor 1");
                    return GgufValue.Of(b == 1);
                case GgufValueType.String: return GgufValue.Of(String($"string value of '{key}'"));
                case GgufValueType.Array: return GgufValue.Of(Array(key, depth));
                default: throw Fail(at, $"unknown metadata value type {(uint)type} for key '{key}'");
            }
        }

        private GgufArray Array(string key, int depth)
        {
            if (depth >= MaxArrayNesting)
                throw Fail(_pos, $"arrays nested deeper than {MaxArrayNesting} in key '{key}'");
            long typeAt = _pos;
            uint typeId = U32();
            if (typeId > (uint)GgufValueType.Float64)
                throw Fail(typeAt, $"unknown array element type {typeId} for key '{key}'");
            var et = (GgufValueType)typeId;
            long countAt = _pos;
            ulong count = U64();
            long min = MinSize(et);
            if (count > (ulong)(Remaining / min))
                throw Fail(countAt, $"array length {count} for key '{key}' is more than the file could hold");
            if (count > (ulong)System.Array.MaxLength)
                throw Fail(countAt, $"array length {count} for key '{key}' is too large");
            int n = (int)count;
            switch (et)
            {
                case GgufValueType.UInt8: return GgufArray.Of(Raw<byte>(n));
                case GgufValueType.Int8: return GgufArray.Of(Raw<sbyte>(n));
                case GgufValueType.UInt16: return GgufArray.Of(Raw<ushort>(n));
                case GgufValueType.Int16: return GgufArray.Of(Raw<short>(n));
                case GgufValueType.UInt32: return GgufArray.Of(Raw<uint>(n));
                case GgufValueType.Int32: return GgufArray.Of(Raw<int>(n));
                case GgufValueType.Float32: return GgufArray.Of(Raw<float>(n));
                case GgufValueType.UInt64: return GgufArray.Of(Raw<ulong>(n));
                case GgufValueType.Int64: return GgufArray.Of(Raw<long>(n));
                case GgufValueType.Float64: return GgufArray.Of(Raw<double>(n));
                case GgufValueType.Bool:
                {
                    var items = new bool[n];
                    for (int i = 0; i < n; i++)
                    {
                        long at = _pos;
                        byte b = U8();
                        if (b > 1)
                            throw Fail(at, $"bool value {b} in array '{key}' is neither 0 nor 1");
                        items[i] = b == 1;
                    }
                    return GgufArray.Of(items);
                }
                case GgufValueType.String:
                {
                    var items = new string[n];
                    for (int i = 0; i < n; i++)
                        items[i] = String($"string {i} of array '{key}'");
                    return GgufArray.Of(items);
                }
                default:
                {
                    var items = new GgufArray[n];
                    for (int i = 0; i < n; i++)
                        items[i] = Array(key, depth + 1);
                    return GgufArray.Of(items);
                }
            }
        }

        private T[] Raw<T>(int n) where T : unmanaged
        {
            long bytes = (long)n * sizeof(T);
            Need(bytes, "array data");
            var items = new T[n];
            new ReadOnlySpan<T>(_p + _pos, n).CopyTo(items);
            _pos += bytes;
            return items;
        }

        private static long MinSize(GgufValueType t) => t switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.String or GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
            _ => 12, // nested array: element type + count
        };
    }
}
