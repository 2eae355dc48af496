using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Gguf;
using Fathom.Tensors.Quants;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Batched Q6_K mat-mul in the order of ggml_vec_dot_q6_K_q8_K (llama.cpp neither repacks Q6_K nor runs it
/// through tinyBLAS on x86, so its prefill uses the vec-dot too): per output eight int32 lanes summed over the
/// super-block, minus 32·(scales·bsums), one FMA with d_w·d_x per super-block, then <see cref="Simd.HSum"/>; a batch
/// equals the one-row path bit for bit. A 512-bit vector holds the lanes of two weight rows; 4 pairs × 2 activation
/// rows per tile; the 6-bit values are unpacked per call, a column slice at a time, into a per-thread panel.
/// Without AVX-512BW (AVX2) each row's half of a pair is one 256-bit vector, four rows against one activation row per
/// call: the same operations per lane, the same bits.
/// </summary>
internal static unsafe class Q6KGemm
{
    private const int Pairs = 4;
    private const int SliceBlocks = 4;
    // Per pair and super-block: 8 groups of 32 unpacked values per row, 8 group scale vectors, the 16 scales per row, d.
    private const int PairBlock = 8 * 64 + 8 * 64 + 64 + 64;

    [ThreadStatic] private static byte[]? t_panel;
    [ThreadStatic] private static Vector512<float>[]? t_state;

    public static bool Applies(TensorView w, int n) => n >= 2 && w.Type == GgmlType.Q6_K && Gemm.IsSupported;

    public static void Run(TensorView w, byte* act, int actRowBytes, int n, float* y, WorkerPool? pool)
    {
        var body = new Body
        {
            Weights = w.Data,
            WeightRowBytes = w.RowBytes,
            Act = act,
            ActRowBytes = actRowBytes,
            Output = y,
            Blocks = (int)(w.Columns / 256),
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
            int tiles = (Batch + 1) / 2;
            byte[] panelArray = t_panel ??= GC.AllocateUninitializedArray<byte>(SliceBlocks * Pairs * PairBlock + 64, pinned: true);
            var stateArray = t_state is { } s && s.Length >= tiles * 8 ? s : (t_state = GC.AllocateUninitializedArray<Vector512<float>>(tiles * 8, pinned: true));
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
                            int j = 2 * t, m = Math.Min(2, Batch - j);
                            var a0 = (BlockQ8_K*)(Act + (long)j * ActRowBytes) + b0;
                            var a1 = m > 1 ? (BlockQ8_K*)((byte*)a0 + ActRowBytes) : a0;
                            Vector512<float>* acc = state + 8 * t;
                            if (Gemm.Wide)
                            {
                                Tile(panel, nb, a0, a1, acc, first);
                            }
                            else
                            {
                                for (int h = 0; h < 2; h++)
                                {
                                    Tile8(panel, nb, h, a0, acc, first);
                                    if (m > 1)
                                        Tile8(panel, nb, h, a1, acc + 1, first);
                                }
                            }
                            if (!last)
                                continue;
                            for (int jj = 0; jj < m; jj++)
                            {
                                float* o = Output + (long)(j + jj) * Rows + r0;
                                for (int q = 0; q < Pairs; q++)
                                {
                                    var v = acc[2 * q + jj];
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

        private readonly void Pack(int r0, int valid, int b0, int nb, byte* panel)
        {
            var low = Vector256.Create((byte)0x0F);
            var mask30 = Vector256.Create((byte)0x30);
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
                            for (int g = 0; g < 8; g++)
                            {
                                Vector256<byte>.Zero.Store(dst + 64 * g + 32 * h);
                                Vector256<byte>.Zero.Store(dst + 512 + 64 * g + 32 * h);
                            }
                            Vector256<byte>.Zero.Store(dst + 1024 + 32 * h);
                            Vector256<byte>.Zero.Store(dst + 1088 + 32 * h);
                            continue;
                        }
                        var x = (BlockQ6_K*)(Weights + (r0 + r) * WeightRowBytes) + b0 + k;
                        // Group g holds values 32g..32g+31 as unsigned 0..63, as ggml's AVX2 unpack.
                        for (int half = 0; half < 2; half++)
                        {
                            var qa = Vector256.Load(x->Ql + 64 * half);
                            var qb = Vector256.Load(x->Ql + 64 * half + 32);
                            var hb = Vector256.Load(x->Qh + 32 * half).AsUInt16();
                            ((qa & low) | (Vector256.ShiftLeft(hb, 4).AsByte() & mask30)).Store(dst + 64 * (4 * half) + 32 * h);
                            ((qb & low) | (Vector256.ShiftLeft(hb, 2).AsByte() & mask30)).Store(dst + 64 * (4 * half + 1) + 32 * h);
                            ((Vector256.ShiftRightLogical(qa.AsUInt16(), 4).AsByte() & low) | (hb.AsByte() & mask30)).Store(dst + 64 * (4 * half + 2) + 32 * h);
                            ((Vector256.ShiftRightLogical(qb.AsUInt16(), 4).AsByte() & low) | (Vector256.ShiftRightLogical(hb, 2).AsByte() & mask30)).Store(dst + 64 * (4 * half + 3) + 32 * h);
                        }
                        for (int g = 0; g < 8; g++)
                            Vector256.Create(Vector128.Create((short)x->Scales[2 * g]), Vector128.Create((short)x->Scales[2 * g + 1])).Store((short*)(dst + 512 + 64 * g + 32 * h));
                        Avx2.ConvertToVector256Int16(Vector128.Load(x->Scales)).Store((short*)(dst + 1024 + 32 * h));
                        Vector256.Create(F16.Lookup(x->D)).Store((float*)(dst + 1088 + 32 * h));
                    }
                }
            }
        }
    }

    // acc[2q + j]: weight pair q with activation row j.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(byte* panel, int nb, BlockQ8_K* a0, BlockQ8_K* a1, Vector512<float>* acc, bool first)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31;
        if (first)
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = Vector512<float>.Zero;
        }
        else
        {
            c00 = acc[0]; c01 = acc[1]; c10 = acc[2]; c11 = acc[3];
            c20 = acc[4]; c21 = acc[5]; c30 = acc[6]; c31 = acc[7];
        }
        for (int k = 0; k < nb; k++)
        {
            BlockQ8_K* y0 = a0 + k, y1 = a1 + k;
            byte* blk = panel + (long)k * Pairs * PairBlock;
            Vector512<int> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
            for (int g = 0; g < 8; g++)
            {
                var x0 = Vector512.Create(Vector256.Load(y0->Qs + 32 * g));
                var x1 = Vector512.Create(Vector256.Load(y1->Qs + 32 * g));
                byte* pg = blk + 64 * g;
                Group(pg, x0, x1, ref s00, ref s01);
                Group(pg + PairBlock, x0, x1, ref s10, ref s11);
                Group(pg + 2 * PairBlock, x0, x1, ref s20, ref s21);
                Group(pg + 3 * PairBlock, x0, x1, ref s30, ref s31);
            }
            var b0 = Vector512.Create(Vector256.Load(y0->BSums));
            var b1 = Vector512.Create(Vector256.Load(y1->BSums));
            var e0 = Vector512.Create(y0->D);
            var e1 = Vector512.Create(y1->D);
            Finish(blk, s00, s01, b0, b1, e0, e1, ref c00, ref c01);
            Finish(blk + PairBlock, s10, s11, b0, b1, e0, e1, ref c10, ref c11);
            Finish(blk + 2 * PairBlock, s20, s21, b0, b1, e0, e1, ref c20, ref c21);
            Finish(blk + 3 * PairBlock, s30, s31, b0, b1, e0, e1, ref c30, ref c31);
        }
        acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11;
        acc[4] = c20; acc[5] = c21; acc[6] = c30; acc[7] = c31;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group(byte* pg, Vector512<sbyte> x0, Vector512<sbyte> x1, ref Vector512<int> s0, ref Vector512<int> s1)
    {
        var u = Vector512.Load(pg);
        var sc = Vector512.Load((short*)(pg + 512));
        s0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, x0), sc);
        s1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, x1), sc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(byte* blk, Vector512<int> s0, Vector512<int> s1, Vector512<short> b0, Vector512<short> b1,
        Vector512<float> e0, Vector512<float> e1, ref Vector512<float> c0, ref Vector512<float> c1)
    {
        var scales = Vector512.Load((short*)(blk + 1024));
        var dw = Vector512.Load((float*)(blk + 1088));
        var k0 = Avx512BW.MultiplyAddAdjacent(b0, scales);
        var k1 = Avx512BW.MultiplyAddAdjacent(b1, scales);
        c0 = Vector512.FusedMultiplyAdd(dw * e0, Vector512.ConvertToSingle(s0 - (k0 << 5)), c0);
        c1 = Vector512.FusedMultiplyAdd(dw * e1, Vector512.ConvertToSingle(s1 - (k1 << 5)), c1);
    }

    // AVX2: rows 2q + h of the four pairs against one activation row; acc[2q] holds row 2q + h's lanes in its half h.
    private static void Tile8(byte* panel, int nb, int h, BlockQ8_K* a, Vector512<float>* acc, bool first)
    {
        float* p0 = (float*)acc + 8 * h, p1 = (float*)(acc + 2) + 8 * h, p2 = (float*)(acc + 4) + 8 * h, p3 = (float*)(acc + 6) + 8 * h;
        Vector256<float> c0 = first ? default : Vector256.Load(p0), c1 = first ? default : Vector256.Load(p1);
        Vector256<float> c2 = first ? default : Vector256.Load(p2), c3 = first ? default : Vector256.Load(p3);
        for (int k = 0; k < nb; k++)
        {
            BlockQ8_K* y = a + k;
            byte* blk = panel + (long)k * Pairs * PairBlock + 32 * h;
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int g = 0; g < 8; g++)
            {
                var x = Vector256.Load(y->Qs + 32 * g);
                byte* pg = blk + 64 * g;
                s0 += Group8(pg, x);
                s1 += Group8(pg + PairBlock, x);
                s2 += Group8(pg + 2 * PairBlock, x);
                s3 += Group8(pg + 3 * PairBlock, x);
            }
            var bs = Vector256.Load(y->BSums);
            var e = Vector256.Create(y->D);
            c0 = Finish8(blk, s0, bs, e, c0);
            c1 = Finish8(blk + PairBlock, s1, bs, e, c1);
            c2 = Finish8(blk + 2 * PairBlock, s2, bs, e, c2);
            c3 = Finish8(blk + 3 * PairBlock, s3, bs, e, c3);
        }
        c0.Store(p0);
        c1.Store(p1);
        c2.Store(p2);
        c3.Store(p3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group8(byte* pg, Vector256<sbyte> x) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256.Load(pg), x), Vector256.Load((short*)(pg + 512)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish8(byte* blk, Vector256<int> s, Vector256<short> bs, Vector256<float> e, Vector256<float> c)
    {
        var k = Avx2.MultiplyAddAdjacent(bs, Vector256.Load((short*)(blk + 1024)));
        return Vector256.FusedMultiplyAdd(Vector256.Load((float*)(blk + 1088)) * e, Vector256.ConvertToSingle(s - (k << 5)), c);
    }
}
