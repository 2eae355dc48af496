using System.Text.Json;

namespace Fathom.Tests;

// CI reruns every test with [Trait("Category", "Kernels")] under --filter-trait Category=Kernels
// with AVX-512, AVX2 and all hardware intrinsics disabled in turn.
internal static class KernelTestData
{
    public static float[] Floats(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++)
            a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Assert |a − b| ≤ atol + rtol·|b| elementwise, naming the first failing index.</summary>
    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float atol, float rtol = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float d = MathF.Abs(expected[i] - actual[i]);
            if (!(d <= atol + rtol * MathF.Abs(expected[i])))
                Assert.Fail($"index {i}: expected {expected[i]:R}, got {actual[i]:R} (|d| = {d:R})");
        }
    }

    /// <summary>A named intermediate tensor of llama.cpp's prompt batch (golden/README.md).</summary>
    public static float[] Hidden(string model, string name, int occurrence = 0)
    {
        string dir = Fixtures.Golden;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, model + ".hidden.json")));
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (e.GetProperty("name").GetString() != name || e.GetProperty("occurrence").GetInt32() != occurrence)
                continue;
            long offset = e.GetProperty("offset").GetInt64();
            int n = e.GetProperty("n_elements").GetInt32();
            using var f = File.OpenRead(Path.Combine(dir, model + ".hidden.f32"));
            f.Position = offset;
            var bytes = new byte[n * 4];
            f.ReadExactly(bytes);
            var r = new float[n];
            Buffer.BlockCopy(bytes, 0, r, 0, bytes.Length);
            return r;
        }
        throw new InvalidOperationException($"{name}/{occurrence} not in {model}.hidden.json");
    }
}
