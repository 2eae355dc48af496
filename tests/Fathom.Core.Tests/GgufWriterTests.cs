using CsCheck;
using Fathom.Gguf;

namespace Fathom.Tests;

public class GgufWriterTests
{
    public static TheoryData<string> FixtureFiles()
    {
        var data = new TheoryData<string>();
        foreach (string dir in new[] { Fixtures.Models, Fixtures.Vocab })
            foreach (string f in Directory.GetFiles(dir, "*.gguf").Order(StringComparer.Ordinal))
                data.Add(Path.GetRelativePath(Fixtures.Root, f));
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Rewriting_a_fixture_gives_identical_metadata_tensors_and_bytes(string relativePath)
    {
        string path = Path.Combine(Fixtures.Root, relativePath);
        byte[] original = File.ReadAllBytes(path);
        using var file = GgufFile.Open(path);
        var writer = GgufWriter.From(file);
        var output = new MemoryStream();
        writer.WriteTo(output, null, TestContext.Current.CancellationToken);
        byte[] rewritten = output.ToArray();
        Assert.Equal(rewritten.Length, writer.ComputeFileSize());

        using var again = GgufFile.FromBytes(rewritten);
        AssertSameContent(file, again);
        Assert.Equal(original.Length, rewritten.Length);
        Assert.True(original.AsSpan().SequenceEqual(rewritten), $"{relativePath}: rewritten bytes differ at {FirstDifference(original, rewritten)}");
    }

    [Fact]
    public void Random_files_round_trip_exactly()
    {
        Gen.Int.Sample(seed =>
        {
            var writer = RandomGguf.Build(seed);
            byte[] first = WriteToBytes(writer);
            using var read = GgufFile.FromBytes(first);
            Assert.Equal(writer.Metadata.Count, read.Metadata.Count);
            for (int i = 0; i < read.Metadata.Count; i++)
            {
                Assert.Equal(writer.Metadata[i].Key, read.Metadata[i].Key);
                Assert.True(writer.Metadata[i].Value.ContentEquals(read.Metadata[i].Value), $"seed {seed}: key {read.Metadata[i].Key} differs");
            }
            Assert.Equal(writer.Alignment, read.Alignment);
            foreach (var t in read.Tensors)
                Assert.Equal(0, t.FileOffset % read.Alignment);

            // Reading back and writing again reproduces the file byte for byte.
            byte[] second = WriteToBytes(GgufWriter.From(read));
            Assert.True(first.AsSpan().SequenceEqual(second), $"seed {seed}: second write differs at {FirstDifference(first, second)}");
        }, iter: 300, seed: "0N0XIzNsQ0O2");
    }

    [Fact]
    public void Honours_general_alignment_and_pads_with_zeros()
    {
        var w = new GgufWriter();
        w.Add(GgufKeys.General.Alignment, GgufValue.Of(64u));
        w.AddTensor("a", GgmlType.F32, [3], new byte[12]);
        w.AddTensor("b", GgmlType.Q8_0, [32, 2], Enumerable.Repeat((byte)0xAB, 68).ToArray());
        byte[] bytes = WriteToBytes(w);
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal(64, f.Alignment);
        Assert.Equal(0, f.DataOffset % 64);
        Assert.Equal(0, f.Tensors[0].Offset);
        Assert.Equal(64, f.Tensors[1].Offset);
        Assert.Equal(f.DataOffset + 128 + 64, bytes.Length); // the last tensor is padded too
        Assert.All(bytes[(int)(f.DataOffset + 12)..(int)(f.DataOffset + 64)], b => Assert.Equal(0, b));
        Assert.All(f.GetTensor("b").Bytes.ToArray(), b => Assert.Equal(0xAB, b));
    }

    [Fact]
    public void File_without_tensors_ends_after_the_header()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.Of("llama"));
        byte[] bytes = WriteToBytes(w);
        Assert.Equal(24 + 8 + 20 + 4 + 8 + 5, bytes.Length);
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal("llama", f.GetString("general.architecture"));
    }

    [Fact]
    public void Streamed_tensor_of_the_wrong_size_is_refused()
    {
        var tooShort = new GgufWriter();
        tooShort.AddTensor("t", GgmlType.F16, [4], s => s.Write(new byte[6]));
        Assert.Throws<InvalidOperationException>(() => tooShort.WriteTo(new MemoryStream(), null, TestContext.Current.CancellationToken));

        var tooLong = new GgufWriter();
        tooLong.AddTensor("t", GgmlType.F16, [4], s => s.Write(new byte[10]));
        Assert.Throws<InvalidOperationException>(() => tooLong.WriteTo(new MemoryStream(), null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Rejects_what_the_reader_would_reject()
    {
        var w = new GgufWriter();
        w.Add("k", GgufValue.Of(1));
        Assert.Throws<ArgumentException>(() => w.Add("k", GgufValue.Of(2)));
        Assert.Throws<ArgumentException>(() => w.Add("", GgufValue.Of(2)));
        Assert.Throws<ArgumentException>(() => w.Add(GgufKeys.General.Alignment, GgufValue.Of(32)));
        w.AddTensor("t", GgmlType.F32, [2], new byte[8]);
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.F32, [2], new byte[8]));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('x', 64), GgmlType.F32, [2], new byte[8]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("q", GgmlType.Q4_0, [16], new byte[9]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("five", GgmlType.F32, [1, 1, 1, 1, 1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("short", GgmlType.F32, [3], new byte[8]));
        Assert.Throws<OverflowException>(() => w.AddTensor("huge", GgmlType.F32, [1L << 40, 1L << 40], new byte[8]));
        var badString = new GgufWriter();
        badString.Add("s", GgufValue.Of("\uD800"));
        Assert.Throws<ArgumentException>(() => badString.WriteTo(new MemoryStream(), null, TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter { Version = 1 });
    }

    [Fact]
    public void Writing_from_a_disposed_file_fails_cleanly()
    {
        var source = GgufFile.Open(Fixtures.Model("tiny-llama-q4_0.gguf"));
        var writer = GgufWriter.From(source);
        source.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.WriteTo(new MemoryStream(), null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Set_replaces_in_place()
    {
        var w = new GgufWriter();
        w.Add("a", GgufValue.Of(1));
        w.Add("b", GgufValue.Of(2));
        w.Set("a", GgufValue.Of("x"));
        w.Set("c", GgufValue.Of(3));
        Assert.Equal(["a", "b", "c"], w.Metadata.Select(kv => kv.Key));
        Assert.Equal("x", w.Metadata[0].Value.Value);
    }

    [Fact]
    public void Writes_version_2_when_asked()
    {
        var w = new GgufWriter { Version = 2 };
        w.Add("a", GgufValue.Of(GgufArray.Of([GgufArray.Of([1, 2]), GgufArray.Of(["x"])])));
        using var f = GgufFile.FromBytes(WriteToBytes(w));
        Assert.Equal(2u, f.Version);
        var outer = Assert.IsType<GgufArray>(f.Get("a").Value);
        Assert.Equal(GgufValueType.Array, outer.ElementType);
        Assert.Equal([1, 2], (int[])((GgufArray)outer.Items.GetValue(0)!).Items);
    }

    internal static byte[] WriteToBytes(GgufWriter writer)
    {
        var ms = new MemoryStream();
        writer.WriteTo(ms, null, TestContext.Current.CancellationToken);
        return ms.ToArray();
    }

    internal static void AssertSameContent(GgufFile expected, GgufFile actual)
    {
        AssertSameMetadata(expected, actual);
        Assert.Equal(expected.Tensors.Count, actual.Tensors.Count);
        for (int i = 0; i < expected.Tensors.Count; i++)
        {
            var e = expected.Tensors[i];
            var a = actual.Tensors[i];
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.Type, a.Type);
            Assert.Equal(e.Dimensions, a.Dimensions);
            Assert.True(expected.View(e).Bytes.SequenceEqual(actual.View(a).Bytes), $"tensor '{e.Name}' bytes differ");
        }
    }

    internal static void AssertSameMetadata(GgufFile expected, GgufFile actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Alignment, actual.Alignment);
        Assert.Equal(expected.Metadata.Count, actual.Metadata.Count);
        for (int i = 0; i < expected.Metadata.Count; i++)
        {
            Assert.Equal(expected.Metadata[i].Key, actual.Metadata[i].Key);
            Assert.True(expected.Metadata[i].Value.ContentEquals(actual.Metadata[i].Value), $"metadata '{expected.Metadata[i].Key}' differs");
        }
    }

    private static long FirstDifference(byte[] a, byte[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        int i = a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, n));
        return i;
    }
}
