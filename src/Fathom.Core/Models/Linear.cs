using System.Runtime.Intrinsics;
using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Models;

/// <summary>
/// A weight matrix of <see cref="Rows"/> outputs × <see cref="Columns"/> inputs (ggml [Columns, Rows])
/// viewed in the mapped file; y = W·x over a batch. Quantized weights go through
/// <see cref="Kernels.MatMul"/> (activations rounded to the vec-dot type as llama.cpp does). F32 and F16
/// weights are summed in the order llama.cpp's CPU build sums them, because float order decides f16/Q8
/// rounding flips downstream: llamafile's tinyBLAS for mul_mat (one 16-lane FMA chain, then
/// _mm512_reduce_add_ps) and ggml_vec_dot_f32 for the experts of mul_mat_id (four 16-lane chains).
/// </summary>
internal sealed unsafe class Linear(TensorView weight, bool expert = false)
{
    private const int Lanes = GgmlMath.Lanes;

    [ThreadStatic] private static float[]? t_half;

    public TensorView Weight { get; } = weight;

    /// <summary>The load-time interleaved copy decode and prefill read instead of <see cref="Weight"/>'s bytes, where llama.cpp makes one.</summary>
    internal PackedWeight? Packed { get; } = expert ? null : PackedWeight.TryCreate(weight);
    public string Name => Weight.Name;
    public GgmlType Type => Weight.Type;
    public int Rows { get; } = checked((int)weight.Rows);
    public int Columns { get; } = checked((int)weight.Columns);

    /// <summary>A slice of a stacked expert tensor (llama.cpp multiplies those with mul_mat_id).</summary>
    public bool Expert { get; } = expert;

    public static bool Supports(GgmlType type) => Kernels.Supports(type);

    /// <summary>y[t, r] = Σ_c W[r, c]·x[t, c] for t in [0, n).</summary>
    public void Apply(ReadOnlySpan<float> x, int n, Span<float> y, WorkerPool? pool)
    {
        bool mirrored = Columns % Lanes == 0 && (Type == GgmlType.F32 || (Type == GgmlType.F16 && !Expert));
        if (!mirrored)
        {
            Kernels.MatMul(Weight, x[..(n * Columns)], n, y[..(n * Rows)], pool, Packed);
            return;
        }
        if (x.Length < n * Columns || y.Length < n * Rows)
            throw new ArgumentException($"{Name}: buffers too small for {n} rows");
        ReadOnlySpan<float> xs = x[..(n * Columns)];
        if (Type == GgmlType.F16)
        {
            // F16 weights see f16 activations (ggml's vec-dot type).
            if (t_half is null || t_half.Length < xs.Length)
                t_half = new float[xs.Length];
            for (int i = 0; i < xs.Length; i++)
                t_half[i] = (float)(Half)xs[i];
            xs = t_half.AsSpan(0, xs.Length);
        }
        if (Type == GgmlType.F16 && n == 1 && F16Gemv.IsSupported)
        {
            // Decode: its own kernel (allocation-free; the general loop's closure lives in ApplyRows).
            fixed (float* py = y)
            fixed (float* pxs = xs)
                F16Gemv.MatVec((ushort*)Weight.Data, Columns, Rows, pxs, py, pool);
            return;
        }
        ApplyRows(xs, n, y, pool);
    }

    /// <summary>
    /// Decode (n = 1) products of weights that read the same input, in one parallel loop (<see cref="Kernels.TryMatVecFused"/>);
    /// <paramref name="swiGlu"/> (gate, up) leaves silu(gate·x) ⊙ (up·x) in the first output. False, with nothing
    /// done, when they cannot share a loop; the caller then applies them one by one.
    /// </summary>
    public static bool TryApplyFused(ReadOnlySpan<float> x, int n, Linear a, Span<float> ya, Linear b, Span<float> yb,
        Linear? c, Span<float> yc, WorkerPool? pool, bool swiGlu = false)
    {
        if (n != 1 || (swiGlu && c is not null) || ya.Length < a.Rows || yb.Length < b.Rows || (c is not null && yc.Length < c.Rows))
            return false;
        fixed (float* pa = ya)
        fixed (float* pb = yb)
        fixed (float* pc = yc)
        {
            var x1 = x[..a.Columns];
            return c is null
                ? Kernels.TryMatVecFused(x1, [a.Weight, b.Weight], [(IntPtr)pa, (IntPtr)pb], pool, swiGlu ? &SwiGluRows : null, [a.Packed, b.Packed])
                : Kernels.TryMatVecFused(x1, [a.Weight, b.Weight, c.Weight], [(IntPtr)pa, (IntPtr)pb, (IntPtr)pc], pool, null, [a.Packed, b.Packed, c.Packed]);
        }
    }

    private static void SwiGluRows(float* gate, float* up, int count) =>
        GgmlMath.SwiGlu(new Span<float>(gate, count), new ReadOnlySpan<float>(up, count));

    private void ApplyRows(ReadOnlySpan<float> xs, int n, Span<float> y, WorkerPool? pool)
    {
        fixed (float* py = y)
        fixed (float* pxs = xs)
        {
            if (n >= 2 && !Expert)
            {
                FloatGemm.Run(Weight, pxs, n, py, pool);
                return;
            }
            ApplyRows(pxs, n, py, pool);
        }
    }

    // One output at a time (single rows and experts), as a struct body so a call allocates nothing.
    private void ApplyRows(float* px, int n, float* ys, WorkerPool? pool)
    {
        var rows = new RowsBody { Linear = this, X = px, Y = ys, N = n };
        if (pool is null)
            rows.Invoke(0, Rows);
        else
            pool.For(Rows, ref rows);
    }

    private struct RowsBody : IParallelBody
    {
        public Linear Linear;
        public float* X, Y;
        public int N;

        public readonly void Invoke(int r0, int r1)
        {
            var l = Linear;
            int cols = l.Columns, rows = l.Rows;
            for (int r = r0; r < r1; r++)
            {
                for (int t = 0; t < N; t++)
                {
                    float* xr = X + (long)t * cols;
                    Y[(long)t * rows + r] = l.Type == GgmlType.F16 ? l.TinyBlasF16(r, xr)
                        : l.Expert ? l.VecDotF32((float*)l.Weight.Data + (long)r * cols, xr) : l.TinyBlasF32((float*)l.Weight.Data + (long)r * cols, xr);
                }
            }
        }
    }

    private float TinyBlasF32(float* w, float* x)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            // The 16-lane chain as two 8-lane halves: the same FMA per lane (a Vector512 that is not accelerated
            // would run element by element).
            Vector256<float> lo = default, hi = default;
            for (int c = 0; c < Columns; c += Lanes)
            {
                lo = Vector256.FusedMultiplyAdd(Vector256.Load(w + c), Vector256.Load(x + c), lo);
                hi = Vector256.FusedMultiplyAdd(Vector256.Load(w + c + 8), Vector256.Load(x + c + 8), hi);
            }
            return GgmlMath.Sum(lo, hi);
        }
        var acc = Vector512<float>.Zero;
        for (int c = 0; c < Columns; c += Lanes)
            acc = Vector512.FusedMultiplyAdd(Vector512.Load(w + c), Vector512.Load(x + c), acc);
        return GgmlMath.Sum(acc);
    }

    private float TinyBlasF16(int r, float* x)
    {
        var w = (ushort*)Weight.Data + (long)r * Columns;
        if (!Vector512.IsHardwareAccelerated)
        {
            Vector256<float> lo = default, hi = default;
            for (int c = 0; c < Columns; c += Lanes)
            {
                var h = Vector256.Load(w + c);
                lo = Vector256.FusedMultiplyAdd(F16.ToFloat(Vector256.WidenLower(h)), Vector256.Load(x + c), lo);
                hi = Vector256.FusedMultiplyAdd(F16.ToFloat(Vector256.WidenUpper(h)), Vector256.Load(x + c + 8), hi);
            }
            return GgmlMath.Sum(lo, hi);
        }
        var acc = Vector512<float>.Zero;
        for (int c = 0; c < Columns; c += Lanes)
        {
            var h = Vector256.Load(w + c);
            var wf = F16.ToFloat(Vector512.Create(Vector256.WidenLower(h), Vector256.WidenUpper(h)));
            acc = Vector512.FusedMultiplyAdd(wf, Vector512.Load(x + c), acc);
        }
        return GgmlMath.Sum(acc);
    }

    // ggml_vec_dot_f32 (AVX-512): four 16-lane accumulators over 64-wide steps, folded 0+2, 1+3, 0+1, then a float tail.
    private float VecDotF32(float* w, float* x)
    {
        int c = 0;
        if (!Vector512.IsHardwareAccelerated)
            return VecDotF32Halves(w, x);
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (; c + 4 * Lanes <= Columns; c += 4 * Lanes)
        {
            s0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + c), Vector512.Load(w + c), s0);
            s1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + c + Lanes), Vector512.Load(w + c + Lanes), s1);
            s2 = Vector512.FusedMultiplyAdd(Vector512.Load(x + c + 2 * Lanes), Vector512.Load(w + c + 2 * Lanes), s2);
            s3 = Vector512.FusedMultiplyAdd(Vector512.Load(x + c + 3 * Lanes), Vector512.Load(w + c + 3 * Lanes), s3);
        }
        float sum = GgmlMath.Sum((s0 + s2) + (s1 + s3));
        for (; c < Columns; c++)
            sum += w[c] * x[c];
        return sum;
    }

    // VecDotF32's four 16-lane accumulators as eight 8-lane halves (the same FMA per lane), for machines without AVX-512.
    private float VecDotF32Halves(float* w, float* x)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, t0 = default, t1 = default, t2 = default, t3 = default;
        int c = 0;
        for (; c + 4 * Lanes <= Columns; c += 4 * Lanes)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c), Vector256.Load(w + c), s0);
            t0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + 8), Vector256.Load(w + c + 8), t0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + Lanes), Vector256.Load(w + c + Lanes), s1);
            t1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + Lanes + 8), Vector256.Load(w + c + Lanes + 8), t1);
            s2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + 2 * Lanes), Vector256.Load(w + c + 2 * Lanes), s2);
            t2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + 2 * Lanes + 8), Vector256.Load(w + c + 2 * Lanes + 8), t2);
            s3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + 3 * Lanes), Vector256.Load(w + c + 3 * Lanes), s3);
            t3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + c + 3 * Lanes + 8), Vector256.Load(w + c + 3 * Lanes + 8), t3);
        }
        float sum = GgmlMath.Sum((s0 + s2) + (s1 + s3), (t0 + t2) + (t1 + t3));
        for (; c < Columns; c++)
            sum += w[c] * x[c];
        return sum;
    }
}
