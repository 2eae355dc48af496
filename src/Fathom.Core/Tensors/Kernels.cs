using System.Diagnostics.CodeAnalysis;
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

    /// <summary>
    /// Decode products of up to three weights with one input row in a single parallel loop: x is quantized
    /// once and the row tiles of every weight are handed out together, so a token pays one dispatch and
    /// one join instead of one per weight. Each y[i] equals <see cref="MatVec"/>'s bit for bit. With
    /// <paramref name="epilogue"/> (two weights of equal rows) a tile covers the same rows of both and then
    /// calls epilogue(y0 + r0, y1 + r0, rows) on them. False, with nothing done, when the weights have no
    /// decode kernel or differ in activation format or width (the caller then runs them one by one).
    /// </summary>
    internal static bool TryMatVecFused(ReadOnlySpan<float> x, ReadOnlySpan<TensorView> w, ReadOnlySpan<IntPtr> y, WorkerPool? pool,
        delegate*<float*, float*, int, void> epilogue = null, ReadOnlySpan<PackedWeight?> packed = default)
    {
        if (w.Length is < 1 or > FusedBody.MaxSlots || y.Length != w.Length || (epilogue != null && (w.Length != 2 || w[0].Rows != w[1].Rows)))
            return false;
        if (!packed.IsEmpty && packed.Length != w.Length)
            return false;
        Span<VecDot> vds = stackalloc VecDot[w.Length];
        Span<QuantGemv.Kernel> kernels = stackalloc QuantGemv.Kernel[w.Length];
        long cols = w[0].Columns;
        for (int i = 0; i < w.Length; i++)
        {
            var vd = vds[i] = VecDot.For(w[i].Type);
            var p = packed.IsEmpty ? null : packed[i];
            // A packed weight's rows come in 8-row groups, which the 16-row tiles keep whole.
            kernels[i] = p is null ? vd.Gemv : PackedGemv.Kernel(p);
            if (!kernels[i].IsValid || vd.ActivationType != vds[0].ActivationType || w[i].Data == null
                || w[i].Columns != cols || cols % vd.BlockSize != 0 || cols > int.MaxValue || w[i].Rows > int.MaxValue || y[i] == IntPtr.Zero)
                return false;
        }
        if (x.Length != cols)
            throw new ArgumentException($"x has {x.Length} values; expected {cols}.", nameof(x));

        int c = (int)cols;
        int actRowBytes = vds[0].ActivationRowBytes(c);
        // Side tables (one per weight type) follow the activation row, each 64-byte aligned.
        long need = (actRowBytes + 63) & ~63;
        for (int i = 0; i < w.Length; i++)
            need += (kernels[i].SideBytes(c) + 63) & ~63;
        byte[] scratch = t_scratch is { } s && s.Length >= need ? s : (t_scratch = GC.AllocateUninitializedArray<byte>(checked((int)Math.Max(need, 4096)), pinned: true));
        fixed (float* px = x)
        {
            byte* act = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(scratch));
            vds[0].Quantize(px, act, c);
            var body = new FusedBody { Activations = act, Columns = c, Slots = w.Length, Epilogue = epilogue };
            byte* side = act + ((actRowBytes + 63) & ~63);
            int tiles = 0;
            for (int i = 0; i < w.Length; i++)
            {
                var k = kernels[i];
                ref var slot = ref body.Slot(i);
                slot.Side = null;
                // The side table depends only on the activation and its preparer: one copy per preparer (a missed match only computes it twice).
                for (int j = 0; j < i && k.Prepare != null; j++)
                {
                    if ((nint)kernels[j].Prepare == (nint)k.Prepare)
                        slot.Side = body.Slot(j).Side;
                }
                if (k.Prepare != null && slot.Side == null)
                {
                    slot.Side = side;
                    k.Prepare(act, side, c / k.ActivationBlock);
                    side += (k.SideBytes(c) + 63) & ~63;
                }
                slot.Weights = packed.IsEmpty || packed[i] is null ? w[i].Data : packed[i]!.Data;
                slot.WeightRowBytes = w[i].RowBytes;
                slot.Output = (float*)y[i];
                slot.Rows = (int)w[i].Rows;
                slot.Kernel = k.Rows;
                slot.FirstTile = tiles;
                if (epilogue == null || i == 0)
                    tiles += (slot.Rows + MatVecBody.RowTile - 1) / MatVecBody.RowTile;
                else
                    slot.FirstTile = 0;
            }
            if (pool is null || pool.ThreadCount == 1)
                body.Invoke(0, tiles);
            else
                pool.For(tiles, ref body, Math.Max(1, tiles / (pool.ThreadCount * 8)));
        }
        return true;
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

    private struct FusedSlot
    {
        public byte* Weights;
        public long WeightRowBytes;
        public byte* Side;
        public float* Output;
        public int Rows, FirstTile;
        public delegate*<byte*, long, byte*, byte*, int, float*, int, int, void> Kernel;
    }

    // Tiles of every slot laid end to end (or, with an epilogue, one tile = the same rows of both slots).
    private struct FusedBody : IParallelBody
    {
        public const int MaxSlots = 3;

        public byte* Activations;
        public int Columns, Slots;
        public delegate*<float*, float*, int, void> Epilogue;
        private FusedSlot _s0, _s1, _s2;

        [UnscopedRef]
        public ref FusedSlot Slot(int i)
        {
            if (i == 0)
                return ref _s0;
            return ref i == 1 ? ref _s1 : ref _s2;
        }

        public readonly void Invoke(int start, int end)
        {
            if (Epilogue != null)
            {
                int r0 = start * MatVecBody.RowTile, r1 = Math.Min(_s0.Rows, end * MatVecBody.RowTile);
                Run(_s0, r0, r1);
                Run(_s1, r0, r1);
                Epilogue(_s0.Output + r0, _s1.Output + r0, r1 - r0);
                return;
            }
            Range(_s0, start, end);
            if (Slots > 1)
                Range(_s1, start, end);
            if (Slots > 2)
                Range(_s2, start, end);
        }

        // The part of tiles [start, end) that falls in this slot.
        private readonly void Range(in FusedSlot s, int start, int end)
        {
            int t0 = Math.Max(start, s.FirstTile) - s.FirstTile;
            int t1 = Math.Min(end - s.FirstTile, (s.Rows + MatVecBody.RowTile - 1) / MatVecBody.RowTile);
            if (t0 < t1)
                Run(s, t0 * MatVecBody.RowTile, Math.Min(s.Rows, t1 * MatVecBody.RowTile));
        }

        private readonly void Run(in FusedSlot s, int r0, int r1) =>
            s.Kernel(s.Weights, s.WeightRowBytes, Activations, s.Side, Columns, s.Output, r0, r1);
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
