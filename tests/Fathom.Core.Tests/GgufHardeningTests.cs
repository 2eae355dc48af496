using System.Text;
using Fathom.Gguf;

namespace Fathom.Tests;

/// <summary>Malformed GGUF files: each raises <see cref="GgufFormatException"/> at the byte where the problem is.</summary>
public class GgufHardeningTests
{
    private const ulong Huge = 1UL << 62;

    /// <summary>A little-endian byte builder that remembers where each field starts.</summary>
    private sealed class Raw
    {
        private readonly MemoryStream _ms = new();
        private readonly BinaryWriter _w;

        public Raw() => _w = new BinaryWriter(_ms);

        public long Pos => _ms.Position;
        public Raw U8(byte v) { _w.Write(v); return this; }
        public Raw U32(uint v) { _w.Write(v); return this; }
        public Raw U64(ulong v) { _w.Write(v); return this; }
        public Raw Bytes(byte[] v) { _w.Write(v); return this; }
        public Raw Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));
        public Raw StrBytes(byte[] b) { _w.Write((ulong)b.Length); _w.Write(b); return this; }
        public Raw Header(ulong tensors, ulong kvs, uint version = 3) => U32(GgufFile.Magic).U32(version).U64(tensors).U64(kvs);
        public Raw Kv(string key, GgufValueType type) => Str(key).U32((uint)type);

        public Raw Tensor(string name, GgmlType type, ulong offset, params ulong[] dims)
        {
            Str(name).U32((uint)dims.Length);
            foreach (ulong d in dims)
                U64(d);
            return U32((uint)type).U64(offset);
        }

        public Raw PadTo(int alignment)
        {
            while (_ms.Position % alignment != 0)
                _w.Write((byte)0);
            return this;
        }

        public Raw Zeros(int n) => Bytes(new byte[n]);
        public byte[] ToArray() => _ms.ToArray();
    }

    private static GgufFormatException Fails(byte[] bytes, long expectedOffset, string expectedText)
    {
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes).Dispose());
        Assert.Equal(expectedOffset, ex.Offset);
        Assert.Contains(expectedText, ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"byte {expectedOffset}", ex.Message);
        return ex;
    }

    /// <summary>A valid file: two keys (one an array of strings), two F32 tensors whose data ends the file unpadded.</summary>
    private static byte[] ValidFile()
    {
        var r = new Raw().Header(2, 2);
        r.Kv("general.architecture", GgufValueType.String).Str("llama");
        r.Kv("tokenizer.ggml.tokens", GgufValueType.Array).U32((uint)GgufValueType.String).U64(2).Str("a").Str("é");
        r.Tensor("a", GgmlType.F32, 0, 4, 2);
        r.Tensor("b", GgmlType.F32, 32, 8);
        return r.PadTo(32).Zeros(64).ToArray();
    }

    [Fact]
    public void The_valid_file_opens()
    {
        using var f = GgufFile.FromBytes(ValidFile());
        Assert.Equal(2, f.Tensors.Count);
        Assert.Equal(["a", "é"], f.GetArray<string>("tokenizer.ggml.tokens"));
    }

    [Fact]
    public void Bad_magic()
    {
        var bytes = ValidFile();
        bytes[0] = (byte)'X';
        Fails(bytes, 0, "bad magic");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(0xFFFFFFFFu)]
    public void Unsupported_version(uint version)
    {
        var bytes = ValidFile();
        BitConverter.TryWriteBytes(bytes.AsSpan(4), version);
        Fails(bytes, 4, "version");
    }

    [Fact]
    public void Big_endian_file()
    {
        var bytes = ValidFile();
        bytes.AsSpan(4, 4).Reverse();
        bytes.AsSpan(8, 8).Reverse();
        bytes.AsSpan(16, 8).Reverse();
        Fails(bytes, 4, "big-endian");
    }

    [Fact]
    public void Truncation_at_every_byte_fails_at_or_before_the_cut()
    {
        byte[] full = ValidFile();
        for (int length = 0; length < full.Length; length++)
        {
            var ex = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(full[..length]).Dispose());
            Assert.InRange(ex.Offset, 0, length);
        }
    }

    [Fact]
    public void Truncation_of_random_files_with_every_value_type_fails_until_the_data_is_whole()
    {
        for (int seed = 0; seed < 40; seed++)
        {
            byte[] full = GgufWriterTests.WriteToBytes(RandomGguf.Build(seed));
            long dataEnd;
            using (var f = GgufFile.FromBytes(full))
            {
                // Without tensor bytes, any cut inside the header fails; the header ends after DataOffset - Alignment.
                var nonEmpty = f.Tensors.Where(t => t.ByteSize > 0).ToList();
                dataEnd = f.Tensors.Count == 0 ? full.Length
                    : nonEmpty.Count == 0 ? f.DataOffset - f.Alignment + 1
                    : nonEmpty.Max(t => t.FileOffset + t.ByteSize);
            }
            for (int length = 0; length < full.Length; length++)
            {
                try
                {
                    GgufFile.FromBytes(full[..length]).Dispose();
                    Assert.True(length >= dataEnd, $"seed {seed}: a file cut at {length} of {full.Length} opened");
                }
                catch (GgufFormatException ex)
                {
                    Assert.InRange(ex.Offset, 0, length);
                }
            }
        }
    }

    [Fact]
    public void Truncated_string_names_what_was_being_read()
    {
        byte[] full = new Raw().Header(0, 1).Kv("general.architecture", GgufValueType.UInt8).U8(0).ToArray();
        var ex = Fails(full[..40], 24, "exceeds");
        Assert.Contains("metadata key", ex.Message);
    }

    [Fact]
    public void Huge_key_length()
    {
        var r = new Raw().Header(0, 1);
        long at = r.Pos;
        r.U64(Huge).Zeros(16);
        Fails(r.ToArray(), at, "length");
    }

    [Fact]
    public void Huge_string_value_length()
    {
        var r = new Raw().Header(0, 1).Kv("k", GgufValueType.String);
        long at = r.Pos;
        r.U64(Huge).Zeros(16);
        Fails(r.ToArray(), at, "length");
    }

    [Theory]
    [InlineData(GgufValueType.UInt8)]
    [InlineData(GgufValueType.String)]
    [InlineData(GgufValueType.Array)]
    [InlineData(GgufValueType.Float64)]
    public void Huge_array_length(GgufValueType elementType)
    {
        var r = new Raw().Header(0, 1).Kv("k", GgufValueType.Array).U32((uint)elementType);
        long at = r.Pos;
        r.U64(Huge).Zeros(64);
        Fails(r.ToArray(), at, "array length");
    }

    [Fact]
    public void Huge_counts()
    {
        var tensors = new Raw().Header(Huge, 0).Zeros(64).ToArray();
        Fails(tensors, 8, "tensor count");
        var kvs = new Raw().Header(0, Huge).Zeros(64).ToArray();
        Fails(kvs, 16, "metadata count");
    }

    [Fact]
    public void More_tensors_than_the_file_could_hold()
    {
        var r = new Raw().Header(100, 0).Tensor("a", GgmlType.F32, 0, 1);
        Fails(r.ToArray(), 8, "more than the file could hold");
    }

    [Fact]
    public void Unknown_metadata_value_type()
    {
        var r = new Raw().Header(0, 1).Str("k");
        long at = r.Pos;
        r.U32(13).Zeros(16);
        Fails(r.ToArray(), at, "unknown metadata value type 13");
    }

    [Fact]
    public void Unknown_array_element_type()
    {
        var r = new Raw().Header(0, 1).Kv("k", GgufValueType.Array);
        long at = r.Pos;
        r.U32(99).U64(0).Zeros(16);
        Fails(r.ToArray(), at, "unknown array element type 99");
    }

    [Theory]
    [InlineData(4u)] // Q4_2, removed from ggml
    [InlineData(31u)]
    [InlineData(1000u)]
    public void Unknown_tensor_type(uint typeId)
    {
        var r = new Raw().Header(1, 0).Str("t").U32(1).U64(32);
        long at = r.Pos;
        r.U32(typeId).U64(0).PadTo(32).Zeros(256);
        Fails(r.ToArray(), at, $"unknown type id {typeId}");
    }

    [Fact]
    public void Tensor_data_outside_the_file()
    {
        var r = new Raw().Header(1, 0).Str("t").U32(1).U64(8).U32((uint)GgmlType.F32);
        long at = r.Pos;
        r.U64(64).PadTo(32).Zeros(64);
        Fails(r.ToArray(), at, "outside the file");
    }

    [Fact]
    public void Tensor_data_offset_near_2_pow_63()
    {
        var r = new Raw().Header(1, 0).Str("t").U32(1).U64(8).U32((uint)GgmlType.F32);
        long at = r.Pos;
        r.U64(long.MaxValue - 31).PadTo(32).Zeros(64);
        Fails(r.ToArray(), at, "outside the file");
    }

    [Fact]
    public void Misaligned_tensor()
    {
        var r = new Raw().Header(1, 0).Str("t").U32(1).U64(8).U32((uint)GgmlType.F32);
        long at = r.Pos;
        r.U64(4).PadTo(32).Zeros(64);
        Fails(r.ToArray(), at, "not a multiple of the alignment 32");
    }

    [Fact]
    public void Overlapping_tensors()
    {
        var r = new Raw().Header(2, 0).Tensor("a", GgmlType.F32, 0, 16).Str("b").U32(1).U64(8).U32((uint)GgmlType.F32);
        long at = r.Pos;
        r.U64(32).PadTo(32).Zeros(128);
        Fails(r.ToArray(), at, "overlaps tensor 'a'");
    }

    [Fact]
    public void Duplicate_key()
    {
        var r = new Raw().Header(0, 2).Kv("k", GgufValueType.UInt8).U8(1);
        long at = r.Pos;
        r.Kv("k", GgufValueType.UInt8).U8(2);
        Fails(r.ToArray(), at, "duplicate metadata key 'k'");
    }

    [Fact]
    public void Duplicate_tensor_name()
    {
        var r = new Raw().Header(2, 0).Tensor("t", GgmlType.F32, 0, 8);
        long at = r.Pos;
        r.Tensor("t", GgmlType.F32, 32, 8).PadTo(32).Zeros(64);
        Fails(r.ToArray(), at, "duplicate tensor name 't'");
    }

    [Fact]
    public void Invalid_utf8_in_key_value_and_tensor_name()
    {
        byte[] bad = [0x61, 0xC3, 0x28]; // 0xC3 must be followed by a continuation byte
        var key = new Raw().Header(0, 1);
        long keyAt = key.Pos + 8;
        key.StrBytes(bad).U32((uint)GgufValueType.UInt8).U8(0);
        Fails(key.ToArray(), keyAt, "not valid UTF-8");

        var value = new Raw().Header(0, 1).Kv("k", GgufValueType.String);
        long valueAt = value.Pos + 8;
        value.StrBytes([0xED, 0xA0, 0x80]); // an encoded surrogate
        Fails(value.ToArray(), valueAt, "not valid UTF-8");

        var name = new Raw().Header(1, 0);
        long nameAt = name.Pos + 8;
        name.StrBytes([0xFF]).U32(1).U64(8).U32(0).U64(0).PadTo(32).Zeros(32);
        Fails(name.ToArray(), nameAt, "not valid UTF-8");
    }

    [Fact]
    public void Dimension_product_overflows()
    {
        var r = new Raw().Header(1, 0).Str("t");
        long at = r.Pos;
        r.U32(3).U64(1UL << 32).U64(1UL << 32).U64(1UL << 32).U32((uint)GgmlType.F32).U64(0).PadTo(32).Zeros(32);
        Fails(r.ToArray(), at, "overflow");
    }

    [Fact]
    public void Bytes_overflow_even_when_elements_do_not()
    {
        var r = new Raw().Header(1, 0).Str("t");
        long at = r.Pos;
        r.U32(2).U64(1UL << 31).U64(1UL << 31).U32((uint)GgmlType.F64).U64(0).PadTo(32).Zeros(32);
        Fails(r.ToArray(), at, "overflow");
    }

    [Fact]
    public void Dimension_above_2_pow_63()
    {
        var r = new Raw().Header(1, 0).Str("t").U32(1);
        long at = r.Pos;
        r.U64(ulong.MaxValue).U32((uint)GgmlType.F32).U64(0).PadTo(32).Zeros(32);
        Fails(r.ToArray(), at, "out of range");
    }

    [Fact]
    public void Too_many_dimensions()
    {
        var r = new Raw().Header(1, 0).Str("t");
        long at = r.Pos;
        r.U32(5).Zeros(80);
        Fails(r.ToArray(), at, "5 dimensions");
    }

    [Fact]
    public void Row_not_a_whole_number_of_blocks()
    {
        var r = new Raw().Header(1, 0).Str("t");
        long at = r.Pos;
        r.U32(1).U64(33).U32((uint)GgmlType.Q8_0).U64(0).PadTo(32).Zeros(64);
        Fails(r.ToArray(), at, "not a whole number");
    }

    [Fact]
    public void Tensor_name_longer_than_63_bytes()
    {
        var r = new Raw().Header(1, 0);
        long at = r.Pos;
        r.Tensor(new string('x', 64), GgmlType.F32, 0, 1).PadTo(32).Zeros(32);
        Fails(r.ToArray(), at, "longer than 63 bytes");
    }

    [Fact]
    public void Bool_other_than_0_or_1()
    {
        var r = new Raw().Header(0, 1).Kv("k", GgufValueType.Bool);
        long at = r.Pos;
        r.U8(2);
        Fails(r.ToArray(), at, "neither 0 nor 1");
    }

    [Fact]
    public void Arrays_nested_too_deep()
    {
        var r = new Raw().Header(0, 1).Kv("k", GgufValueType.Array);
        for (int i = 0; i < 9; i++)
            r.U32((uint)GgufValueType.Array).U64(1);
        long at = r.Pos - 12;
        r.U32((uint)GgufValueType.UInt8).U64(0);
        Fails(r.ToArray(), at, "nested deeper");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(1u << 31)]
    public void Alignment_not_a_power_of_two(uint alignment)
    {
        var r = new Raw().Header(0, 2).Kv("a", GgufValueType.UInt8).U8(0);
        long at = r.Pos + 8 + GgufKeys.General.Alignment.Length;
        r.Kv(GgufKeys.General.Alignment, GgufValueType.UInt32).U32(alignment);
        Fails(r.ToArray(), at, "power of two");
    }

    [Fact]
    public void Alignment_of_the_wrong_type()
    {
        var r = new Raw().Header(0, 1);
        long at = r.Pos + 8 + GgufKeys.General.Alignment.Length;
        r.Kv(GgufKeys.General.Alignment, GgufValueType.UInt64).U64(32);
        Fails(r.ToArray(), at, "must be u32");
    }

    [Fact]
    public void Empty_key()
    {
        var r = new Raw().Header(0, 1);
        long at = r.Pos;
        r.Kv("", GgufValueType.UInt8).U8(0);
        Fails(r.ToArray(), at, "empty metadata key");
    }

    [Fact]
    public void Opening_a_file_reports_the_path()
    {
        string path = Path.Combine(Path.GetTempPath(), $"fathom-hardening-{Guid.NewGuid():N}.gguf");
        try
        {
            var bytes = ValidFile();
            bytes[1] = 0;
            File.WriteAllBytes(path, bytes);
            var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
            Assert.Equal(path, ex.Path);
            Assert.StartsWith(path, ex.Message);
            File.WriteAllBytes(path, []);
            Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
