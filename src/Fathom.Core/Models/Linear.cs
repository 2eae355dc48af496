using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Fathom.Gguf;
using Fathom.Tensors;

namespace Fathom.Models;

/// <summary>
/// A weight matrix of <see cref="Rows"/> outputs × <see cref="Columns"/> inputs, viewed in the mapped
/// file, and y = W·x over a batch of rows. Activations are rounded to the weight type's vec-dot type
/// first, as ggml's mul_mat does (F16 weights see f16 activations).
/// </summary>
internal sealed unsafe class Linear
{
    public Linear(string name, GgmlType type, byte* data, int rows, int columns)
    {
        Name = name;
        Type = type;
        Data = data;
        Rows = rows;
        Columns = columns;
        RowBytes = (int)GgmlTypeInfo.RowSize(type, columns);
    }

    public string Name { get; }
    public GgmlType Type { get; }
    public byte* Data { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int RowBytes { get; }

    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16;

    /// <summary>y[t, r] = Σ_c W[r, c]·x[t, c] for t in [0, n).</summary>
    public void Apply(ReadOnlySpan<float> x, int n, Span<float> y, Compute compute)
    {
        if (x.Length < n * Columns || y.Length < n * Rows)
            throw new ArgumentException($"{Name}: buffers too small for {n} rows");
        fixed (float* px = x)
        fixed (float* py = y)
        {
            float* xs = px, ys = py;
            switch (Type)
            {
                case GgmlType.F32:
                    compute.For(Rows, (r0, r1) => F32Rows(xs, n, ys, r0, r1));
                    break;
                case GgmlType.F16:
                {
                    var xh = compute.HalfScratch(n * Columns);
                    for (int i = 0; i < n * Columns; i++)
                        xh[i] = (Half)xs[i];
                    compute.For(Rows, (r0, r1) => F16Rows(xh, n, ys, r0, r1));
                    break;
                }
                default:
                    throw new ModelFormatException($"tensor '{Name}' has type {Type}, which the forward pass does not support yet");
            }
        }
    }

    private void F32Rows(float* x, int n, float* y, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            float* w = (float*)(Data + (long)r * RowBytes);
            for (int t = 0; t < n; t++)
                y[(long)t * Rows + r] = Dot(w, x + (long)t * Columns, Columns);
        }
    }

    private void F16Rows(Half[] xh, int n, float* y, int r0, int r1)
    {
        fixed (Half* xp = xh)
        {
            for (int r = r0; r < r1; r++)
            {
                Half* w = (Half*)(Data + (long)r * RowBytes);
                for (int t = 0; t < n; t++)
                {
                    Half* xr = xp + (long)t * Columns;
                    float sum = 0;
                    for (int c = 0; c < Columns; c++)
                        sum += (float)w[c] * (float)xr[c];
                    y[(long)t * Rows + r] = sum;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8)
            acc += Vector256.Load(a + i) * Vector256.Load(b + i);
        float sum = Vector256.Sum(acc);
        for (; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }
}
