using Fathom.KvCache;

namespace Fathom.Tests.KvCache;

[Trait("Category", "Kernels")]
public class KvTypesTests
{
    [Theory]
    [InlineData(KvType.F32)]
    [InlineData(KvType.F16)]
    [InlineData(KvType.Q8_0)]
    [InlineData(KvType.Q4_0)]
    public unsafe void DecodeRows_equals_Decode_row_by_row(KvType type)
    {
        const int width = 96, rows = 5, heads = 3;
        int headBytes = KvTypes.RowBytes(type, width), rowBytes = heads * headBytes;
        var bytes = new byte[rows * rowBytes];
        var r = new Random(7);
        var x = new float[width];
        for (int row = 0; row < rows; row++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < width; i++)
                {
                    // normal values, f16 subnormals and zeros
                    x[i] = (i % 7) switch { 0 => 0f, 1 => (float)(r.NextDouble() - 0.5) * 1e-6f, _ => (float)(r.NextDouble() * 8 - 4) };
                }
                KvTypes.Encode(type, x, bytes.AsSpan(row * rowBytes + h * headBytes, headBytes));
            }
        }
        var expected = new float[rows * width];
        var actual = new float[rows * width];
        const int head = 1;
        for (int row = 0; row < rows; row++)
            KvTypes.Decode(type, bytes.AsSpan(row * rowBytes + head * headBytes, headBytes), expected.AsSpan(row * width, width));
        fixed (byte* b = bytes)
        fixed (float* a = actual)
            KvTypes.DecodeRows(type, b + head * headBytes, rowBytes, rows, width, a);
        Assert.Equal(expected, actual);
    }
}
