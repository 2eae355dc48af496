using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Gguf;
using Fathom.Tensors.Quants;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Batched Q8_0 mat-mul in the order of ggml_vec_dot_q8_0_q8_0 (and llamafile's tinyBLAS_Q0, which llama.cpp
/// uses for Q8_0 prefill here): per output eight lanes of 4-value integer dots, each block added by
/// fma(d_w·d_x, float(lane), acc), then <see cref="Simd.HSum"/>; so a batch equals the one-row path bit for bit.
/// A 512-bit vector holds the eight lanes of two weight rows; 4 such pairs × 3 activation rows per tile; the
/// weights are re-laid per call, a column slice at a time, into a per-thread panel (|w|, sign mask, scales).
/// </summary>
internal static unsafe class Q8Gemm
{
    private const int Pairs = 4;
    private const int SliceBlocks = 32;
    private const int PairBlock = 64 + 64 + 64;

    [ThreadStatic] private static byte[]? t_panel;
    [ThreadStatic] private static Vector512<float>[]? t_state;

    public static bool Applies(TensorView w, int n) => n >= 2 && w.Type == GgmlType.Q8_0 && Gemm.Wide;

    public static void Run(TensorView w, byte* act, int actRowBytes, int n, float* y, WorkerPool? pool)
    {
        var body = new Body
        {
            Weights = w.Data,
            WeightRowBytes = w.RowBytes,
            Act = act,
            ActRowBytes = actRowBytes,
            Output = y,
            Blocks = (int)(w.Columns / 32),
            Rows = (int)w.Rows,
            Batch = n,
        };
        int panels = (body.Rows + 2 * Pairs - 1) / (2 * Pairs);
        if (pool is null || pool.ThreadCount == 1)
            body.Invoke(0, panels);
        else
            pool.For(panels, ref body, 1);
    }

    private struct Body : IParallelBody
    {
        public byte* Weights;
        public long WeightRowBytes;
        public byte* Act;
        public int ActRowBytes;
        public float* Output;
        public int Blocks, Rows, Batch;

        public readonly void Invoke(int start, int end)
        {
            int tiles = (Batch + 2) / 3;
            byte[] panelArray = t_panel ??= GC.AllocateUninitializedArray<byte>(SliceBlocks * Pairs * PairBlock + 64, pinned: true);
            var stateArray = t_state is { } s && s.Length >= tiles * 12 ? s : (t_state = GC.AllocateUninitializedArray<Vector512<float>>(tiles * 12, pinned: true));
            fixed (byte* raw = panelArray)
            fixed (Vector512<float>* state = stateArray)
            {
                byte* panel = (byte*)(((nint)raw + 63) & ~(nint)63);
                for (int p = start; p < end; p++)
                {
                    int r0 = 2 * Pairs * p, valid = Math.Min(2 * Pairs, Rows - r0);
                    for (int b0 = 0; b0 < Blocks; b0 += SliceBlocks)
                    {
                        int nb = Math.Min(SliceBlocks, Blocks - b0);
                        Pack(r0, valid, b0, nb, panel);
                        bool first = b0 == 0, last = b0 + nb == Blocks;
                        for (int t = 0; t < tiles; t++)
                        {
                            int j = 3 * t, m = Math.Min(3, Batch - j);
                            var a0 = (BlockQ8_0*)(Act + (long)j * ActRowBytes) + b0;
                            var a1 = m > 1 ? (BlockQ8_0*)((byte*)a0 + ActRowBytes) : a0;
                            var a2 = m > 2 ? (BlockQ8_0*)((byte*)a0 + 2L * ActRowBytes) : a0;
                            Vector512<float>* acc = state + 12 * t;
                            Tile(panel, nb, a0, a1, a2, acc, first);
                            if (!last)
                                continue;
                            for (int jj = 0; jj < m; jj++)
                            {
                                float* o = Output + (long)(j + jj) * Rows + r0;
                                for (int q = 0; q < Pairs; q++)
                                {
                                    var v = acc[3 * q + jj];
                                    if (2 * q < valid)
                                        o[2 * q] = Simd.HSum(v.GetLower());
                                    if (2 * q + 1 < valid)
                                        o[2 * q + 1] = Simd.HSum(v.GetUpper());
                                }
                            }
                        }
                    }
                }
            }
        }

        // Per block and pair: |w| of rows A, B (32 bytes each), their sign masks, then dA ×8, dB ×8.
        private readonly void Pack(int r0, int valid, int b0, int nb, byte* panel)
        {
            for (int k = 0; k < nb; k++)
            {
                for (int q = 0; q < Pairs; q++)
                {
                    byte* dst = panel + (long)(k * Pairs + q) * PairBlock;
                    for (int h = 0; h < 2; h++)
                    {
                        int r = 2 * q + h;
                        if (r >= valid)
                        {
                            Vector256<byte>.Zero.Store(dst + 32 * h);
                            Vector256<byte>.Zero.Store(dst + 64 + 32 * h);
                            Vector256<float>.Zero.Store((float*)(dst + 128) + 8 * h);
                            continue;
                        }
                        var x = (BlockQ8_0*)(Weights + (r0 + r) * WeightRowBytes) + b0 + k;
                        var v = Vector256.Load(x->Qs);
                        Vector256.Abs(v).AsByte().Store(dst + 32 * h);
                        Vector256.LessThan(v, Vector256<sbyte>.Zero).AsByte().Store(dst + 64 + 32 * h);
                        Vector256.Create(F16.Lookup(x->D)).Store((float*)(dst + 128) + 8 * h);
                    }
                }
            }
        }
    }

    // acc[3q + j]: weight pair q with activation row j.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(byte* panel, int nb, BlockQ8_0* a0, BlockQ8_0* a1, BlockQ8_0* a2, Vector512<float>* acc, bool first)
    {
        Vector512<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        if (first)
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = Vector512<float>.Zero;
        }
        else
        {
            c00 = acc[0]; c01 = acc[1]; c02 = acc[2];
            c10 = acc[3]; c11 = acc[4]; c12 = acc[5];
            c20 = acc[6]; c21 = acc[7]; c22 = acc[8];
            c30 = acc[9]; c31 = acc[10]; c32 = acc[11];
        }
        for (int k = 0; k < nb; k++)
        {
            var x0 = Vector512.Create(Vector256.Load(a0[k].Qs));
            var x1 = Vector512.Create(Vector256.Load(a1[k].Qs));
            var x2 = Vector512.Create(Vector256.Load(a2[k].Qs));
            var n0 = -x0;
            var n1 = -x1;
            var n2 = -x2;
            var e0 = Vector512.Create(F16.Lookup(a0[k].D));
            var e1 = Vector512.Create(F16.Lookup(a1[k].D));
            var e2 = Vector512.Create(F16.Lookup(a2[k].D));
            byte* blk = panel + (long)k * Pairs * PairBlock;
            Pair(blk, x0, x1, x2, n0, n1, n2, e0, e1, e2, ref c00, ref c01, ref c02);
            Pair(blk + PairBlock, x0, x1, x2, n0, n1, n2, e0, e1, e2, ref c10, ref c11, ref c12);
            Pair(blk + 2 * PairBlock, x0, x1, x2, n0, n1, n2, e0, e1, e2, ref c20, ref c21, ref c22);
            Pair(blk + 3 * PairBlock, x0, x1, x2, n0, n1, n2, e0, e1, e2, ref c30, ref c31, ref c32);
        }
        acc[0] = c00; acc[1] = c01; acc[2] = c02;
        acc[3] = c10; acc[4] = c11; acc[5] = c12;
        acc[6] = c20; acc[7] = c21; acc[8] = c22;
        acc[9] = c30; acc[10] = c31; acc[11] = c32;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(byte* blk, Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> n0, Vector512<sbyte> n1, Vector512<sbyte> n2,
        Vector512<float> e0, Vector512<float> e1, Vector512<float> e2, ref Vector512<float> c0, ref Vector512<float> c1, ref Vector512<float> c2)
    {
        var wabs = Vector512.Load(blk);
        var neg = Vector512.Load((sbyte*)(blk + 64));
        var dw = Vector512.Load((float*)(blk + 128));
        c0 = Vector512.FusedMultiplyAdd(dw * e0, Lanes(wabs, Vector512.ConditionalSelect(neg, n0, x0)), c0);
        c1 = Vector512.FusedMultiplyAdd(dw * e1, Lanes(wabs, Vector512.ConditionalSelect(neg, n1, x1)), c1);
        c2 = Vector512.FusedMultiplyAdd(dw * e2, Lanes(wabs, Vector512.ConditionalSelect(neg, n2, x2)), c2);
    }

    // ggml's mul_sum_i8_pairs: |w|·(x signed like w), pairs, then 4-value int32 lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lanes(Vector512<byte> wabs, Vector512<sbyte> xs) =>
        Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(wabs, xs), Vector512<short>.One));
}
