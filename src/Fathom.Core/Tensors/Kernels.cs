using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Fathom.Gguf;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Matrix kernels of the forward pass: weights (a <see cref="TensorView"/> of any supported type,
/// row-major, ne0 = columns) times float32 activations. Activations are first converted to the
/// weight type's dot-product format exactly as llama.cpp's CPU backend does (F16 for F16 weights,
/// Q8_0/Q8_1/Q8_K blocks for quantized ones), once per call, into a reused per-thread buffer;
/// a call allocates nothing once warm.
/// </summary>
public static unsafe class Kernels
{
    [ThreadStatic] private static byte[]? t_scratch;

    /// <summary>True when <see cref="MatVec"/>/<see cref="MatMul"/> accept weights of this type.</summary>
    public static bool Supports(GgmlType type) => VecDot.For(type).Dot != null;

    /// <summary>Σ a[i]·b[i] over float32 vectors (SIMD; b may be longer than a).</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => FloatDot.F32(a, b);

    /// <summary>y[r] = Σ_c w[r, c]·x[c] for every row r of <paramref name="w"/>.</summary>
    public static void MatVec(TensorView w, ReadOnlySpan<float> x, Span<float> y, WorkerPool? pool = null) =>
        MatMul(w, x, 1, y, pool);

    /// <summary>
    /// Batched product for prefill: x holds <paramref name="n"/> rows of w.Columns values, y receives
    /// <paramref name="n"/> rows of w.Rows values (y[j, r] = Σ_c w[r, c]·x[j, c]).
    /// </summary>
    public static void MatMul(TensorView w, ReadOnlySpan<float> x, int n, Span<float> y, WorkerPool? pool = null) =>
        MatMul(w, x, n, y, pool, VecDot.For(w.Type), batched: true);

    /// <summary>As <see cref="MatMul(TensorView, ReadOnlySpan{float}, int, Span{float}, WorkerPool?)"/> with the weights' load-time packed copy, when it has one.</summary>
    internal static void MatMul(TensorView w, ReadOnlySpan<float> x, int n, Span<float> y, WorkerPool? pool, PackedWeight? packed) =>
        MatMul(w, x, n, y, pool, VecDot.For(w.Type), batched: true, packed);

    /// <summary>
    /// As the public overload with a chosen dot-product table (the scalar references, in tests and benchmarks);
    /// <paramref name="batched"/> lets a batch take the interleaved <see cref="Gemm"/> where it applies.
    /// </summary>
    internal static void MatMul(TensorView w, ReadOnlySpan<float> x, int n, Span<float> y, WorkerPool? pool, VecDot vd, bool batched = false, PackedWeight? packed = null)
    {
        long cols = w.Columns, rows = w.Rows;
        if (vd.Dot == null)
            throw new NotSupportedException($"Tensor {w.Name}: no dot-product kernel for {w.Type}.");
        if (w.Data == null)
            throw new ArgumentException($"Tensor {w.Name} has no data.", nameof(w));
        if (cols % vd.BlockSize != 0 || cols > int.MaxValue || rows > int.MaxValue)
            throw new ArgumentException($"Tensor {w.Name}: {cols} columns is not a whole number of {w.Type} blocks.", nameof(w));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        if ((long)x.Length != n * cols)
            throw new ArgumentException($"x has {x.Length} values; expected {n} × {cols}.", nameof(x));
        if ((long)y.Length != n * rows)
            throw new ArgumentException($"y has {y.Length} values; expected {n} × {rows}.", nameof(y));

        int c = (int)cols;
        int actRowBytes = vd.ActivationRowBytes(c);
        bool gemv = n == 1 && (vd.Gemv.IsValid || packed is not null);
        int sideOffset = (actRowBytes + 63) & ~63;
        long need = gemv ? sideOffset + (packed is not null ? PackedGemv.SideBytes(packed) : vd.Gemv.SideBytes(c)) : (long)actRowBytes * n;
        byte[] scratch = t_scratch is { } s && s.Length >= need ? s : (t_scratch = GC.AllocateUninitializedArray<byte>(checked((int)Math.Max(need, 4096)), pinned: true));
        fixed (float* px = x)
        fixed (float* py = y)
        {
            byte* act = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(scratch));
            var quantize = new QuantizeBody { Quantize = vd.Quantize, Input = px, Output = act, RowBytes = actRowBytes, Columns = c };
            if (pool is null || pool.ThreadCount == 1 || (long)n * c < 1 << 16)
                quantize.Invoke(0, n);
            else
                pool.For(n, ref quantize);
            if (gemv && packed is not null)
            {
                PackedGemv.Run(packed, act, act + sideOffset, py, pool);
                return;
            }
            if (gemv)
            {
                MatVecRows(w, act, act + sideOffset, c, (int)rows, py, pool, vd.Gemv);
                return;
            }
            if (batched && Gemm.Applies(w, n))
            {
                Gemm.Run(w, act, actRowBytes, n, py, pool, packed);
                return;
            }
            if (batched && Q8Gemm.Applies(w, n))
            {
                Q8Gemm.Run(w, act, actRowBytes, n, py, pool);
                return;
            }
            if (batched && Q6KGemm.Applies(w, n))
            {
                Q6KGemm.Run(w, act, actRowBytes, n, py, pool);
                return;
            }
            var body = new MatMulBody
            {
                Weights = w.Data,
                WeightRowBytes = w.RowBytes,
                Activations = act,
                ActivationRowBytes = actRowBytes,
                Output = py,
                Columns = c,
                Rows = (int)rows,
                Batch = n,
                Dot = vd.Dot,
                Dot4 = vd.Dot4,
            };
            int tiles = (int)((rows + MatMulBody.RowTile - 1) / MatMulBody.RowTile);
            if (pool is null || pool.ThreadCount == 1)
                body.Invoke(0, tiles);
            else
                pool.For(tiles, ref body, Math.Max(1, tiles / (pool.ThreadCount * 8)));
        }
    }

    private static void MatVecRows(TensorView w, byte* act, byte* side, int cols, int rows, float* y, WorkerPool? pool, QuantGemv.Kernel k)
    {
        if (k.Prepare != null)
            k.Prepare(act, side, cols / k.ActivationBlock);
        var body = new MatVecBody { Weights = w.Data, WeightRowBytes = w.RowBytes, Activations = act, Side = side, Output = y, Columns = cols, Rows = rows, Kernel = k.Rows };
        int tiles = (rows + MatVecBody.RowTile - 1) / MatVecBody.RowTile;
        if (pool is null || pool.ThreadCount == 1)
            body.Invoke(0, tiles);
        else
            pool.For(tiles, ref body, Math.Max(1, tiles / (pool.ThreadCount * 8)));
    }

    private struct MatVecBody : IParallelBody
    {
        public const int RowTile = 16;

        public byte* Weights;
        public long WeightRowBytes;
        public byte* Activations, Side;
        public float* Output;
        public int Columns, Rows;
        public delegate*<byte*, long, byte*, byte*, int, float*, int, int, void> Kernel;

        public readonly void Invoke(int start, int end) =>
            Kernel(Weights, WeightRowBytes, Activations, Side, Columns, Output, start * RowTile, Math.Min(Rows, end * RowTile));
    }

    private struct QuantizeBody : IParallelBody
    {
        public delegate*<float*, byte*, int, void> Quantize;
        public float* Input;
        public byte* Output;
        public int RowBytes, Columns;

        public readonly void Invoke(int start, int end)
        {
            for (int j = start; j < end; j++)
                Quantize(Input + (long)j * Columns, Output + (long)j * RowBytes, Columns);
        }
    }

    private struct MatMulBody : IParallelBody
    {
        public const int RowTile = 16;
        private const int BatchTile = 32;

        public byte* Weights;
        public long WeightRowBytes;
        public byte* Activations;
        public int ActivationRowBytes;
        public float* Output;
        public int Columns, Rows, Batch;
        public delegate*<byte*, byte*, int, float> Dot;
        public delegate*<byte*, byte*, int, int, float*, void> Dot4;

        // Weight rows of one tile stay in cache while a tile of activation rows streams past them.
        public readonly void Invoke(int start, int end)
        {
            int r0 = start * RowTile, r1 = Math.Min(Rows, end * RowTile);
            float* four = stackalloc float[4];
            for (int j0 = 0; j0 < Batch; j0 += BatchTile)
            {
                int j1 = Math.Min(Batch, j0 + BatchTile);
                for (int r = r0; r < r1; r++)
                {
                    byte* wr = Weights + r * WeightRowBytes;
                    int j = j0;
                    if (Dot4 != null)
                    {
                        for (; j + 4 <= j1; j += 4)
                        {
                            Dot4(wr, Activations + (long)j * ActivationRowBytes, ActivationRowBytes, Columns, four);
                            for (int k = 0; k < 4; k++)
                                Output[(long)(j + k) * Rows + r] = four[k];
                        }
                    }
                    for (; j < j1; j++)
                        Output[(long)j * Rows + r] = Dot(wr, Activations + (long)j * ActivationRowBytes, Columns);
                }
            }
        }
    }
}
