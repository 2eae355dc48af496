using System.Buffers.Binary;
using Fathom.Gguf;

namespace Fathom.Tests;

/// <summary>
/// Seeded mutation fuzzing of real fixture files: bit flips, truncations, length/count/type/offset fields
/// overwritten with extreme values, swapped bytes. Parsing must succeed or raise GgufFormatException, and
/// allocate no more than a small multiple of the file's size.
/// </summary>
public class GgufMutationFuzzTests
{
    private const int IterationsPerFixture = 2_600;

    public static TheoryData<string, int> Cases() => new()
    {
        { "models/tiny-llama-q4_k_m.gguf", 1 },
        { "models/tiny-qwen2-q8_0.gguf", 2 },
        { "models/tiny-qwen3moe-q8_0.gguf", 3 },
        { "models/fathom-code-5m-q4_k_m.gguf", 4 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Mutated_fixture_parses_or_raises_GgufFormatException(string relativePath, int seed)
    {
        byte[] original = File.ReadAllBytes(Path.Combine(Fixtures.Root, relativePath));
        var fields = FieldMap(original, out int headerEnd);
        byte[] work = (byte[])original.Clone();
        var rng = new Random(seed);
        var touched = new List<int>();
        int failures = 0, successes = 0;
        for (int iter = 0; iter < IterationsPerFixture; iter++)
        {
            TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
            touched.Clear();
            string what = Mutate(rng, work, fields, headerEnd, touched, out int length);
            byte[] input = length == work.Length ? work : work[..length];
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var f = GgufFile.FromBytes(input);
                Touch(f);
                successes++;
            }
            catch (GgufFormatException ex)
            {
                failures++;
                Assert.InRange(ex.Offset, 0, input.Length);
            }
            catch (Exception ex)
            {
                Assert.Fail($"{relativePath} iteration {iter} ({what}): {ex.GetType().Name}: {ex.Message}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated <= 32L * input.Length + (1 << 20), $"{relativePath} iteration {iter} ({what}): allocated {allocated} bytes for a {input.Length}-byte file");
            foreach (int i in touched)
                work[i] = original[i];
        }
        // The mutations must be neither all harmless nor all fatal, or they test little.
        Assert.InRange(failures, IterationsPerFixture / 4, IterationsPerFixture - 1);
        Assert.True(successes > 0);
    }

    private static void Touch(GgufFile f)
    {
        foreach (var (_, value) in f.Metadata)
            _ = value.ToString();
        foreach (var info in f.Tensors)
        {
            var view = f.View(info);
            if (view.ByteLength > 0)
                _ = view.Bytes[^1];
        }
        _ = f.ParameterCount;
    }

    private enum FieldKind { Length, Count, Type, Rank, Dimension, Offset }

    private static string Mutate(Random rng, byte[] work, List<(int At, FieldKind Kind)> fields, int headerEnd, List<int> touched, out int length)
    {
        length = work.Length;
        // Most mutations land in the header, where the parser looks; some anywhere.
        int Pick() => rng.Next(10) == 0 ? rng.Next(work.Length) : rng.Next(headerEnd);
        void Set(int i, byte b)
        {
            touched.Add(i);
            work[i] = b;
        }

        switch (rng.Next(6))
        {
            case 0:
            {
                int flips = rng.Next(1, 9);
                for (int k = 0; k < flips; k++)
                {
                    int i = Pick();
                    Set(i, (byte)(work[i] ^ (1 << rng.Next(8))));
                }
                return $"{flips} bit flips";
            }
            case 1:
                length = rng.Next(3) == 0 ? rng.Next(work.Length) : rng.Next(headerEnd + 64);
                return $"truncated to {length}";
            case 2:
            case 3:
            {
                var (at, kind) = fields[rng.Next(fields.Count)];
                ulong value = rng.Next(9) switch
                {
                    0 => 1UL << 62,
                    1 => 1UL << 63,
                    2 => ulong.MaxValue,
                    3 => uint.MaxValue + 1UL,
                    4 => (ulong)work.Length,
                    5 => (ulong)rng.NextInt64(),
                    6 => BinaryPrimitives.ReadUInt64LittleEndian(work.AsSpan(at)) + 1,
                    7 => BinaryPrimitives.ReadUInt64LittleEndian(work.AsSpan(at)) - 1,
                    _ => 0,
                };
                int width = kind is FieldKind.Type or FieldKind.Rank ? 4 : 8;
                if (width == 4 && value > uint.MaxValue)
                    value = rng.Next(2) == 0 ? uint.MaxValue : value % 64;
                Span<byte> bytes = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
                for (int k = 0; k < width; k++)
                    Set(at + k, bytes[k]);
                return $"{kind} at {at} set to {value}";
            }
            case 4:
            {
                int i = Pick(), j = Pick();
                byte a = work[i], b = work[j];
                Set(i, b);
                Set(j, a);
                return $"swapped bytes {i} and {j}";
            }
            default:
            {
                int i = Math.Max(0, Pick() - 8);
                int n = Math.Min(rng.Next(1, 17), work.Length - i);
                for (int k = 0; k < n; k++)
                    Set(i + k, (byte)rng.Next(256));
                return $"{n} random bytes at {i}";
            }
        }
    }

    /// <summary>The offsets of every length, count, type, dimension and offset field of a valid file.</summary>
    private static List<(int At, FieldKind Kind)> FieldMap(byte[] b, out int headerEnd)
    {
        var fields = new List<(int, FieldKind)> { (8, FieldKind.Count), (16, FieldKind.Count) };
        int p = 24;
        ulong U64() { ulong v = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p)); p += 8; return v; }
        uint U32() { uint v = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p)); p += 4; return v; }
        void Str()
        {
            fields.Add((p, FieldKind.Length));
            int length = (int)U64();
            p += length;
        }
        void Value(uint type)
        {
            switch ((GgufValueType)type)
            {
                case GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool: p += 1; break;
                case GgufValueType.UInt16 or GgufValueType.Int16: p += 2; break;
                case GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32: p += 4; break;
                case GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64: p += 8; break;
                case GgufValueType.String: Str(); break;
                default:
                    fields.Add((p, FieldKind.Type));
                    uint et = U32();
                    fields.Add((p, FieldKind.Count));
                    ulong n = U64();
                    for (ulong i = 0; i < n; i++)
                        Value(et);
                    break;
            }
        }

        ulong tensors = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8));
        ulong kvs = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16));
        for (ulong k = 0; k < kvs; k++)
        {
            Str();
            fields.Add((p, FieldKind.Type));
            Value(U32());
        }
        for (ulong t = 0; t < tensors; t++)
        {
            Str();
            fields.Add((p, FieldKind.Rank));
            uint nd = U32();
            for (uint d = 0; d < nd; d++)
            {
                fields.Add((p, FieldKind.Dimension));
                p += 8;
            }
            fields.Add((p, FieldKind.Type));
            p += 4;
            fields.Add((p, FieldKind.Offset));
            p += 8;
        }
        headerEnd = p;
        return fields;
    }
}
