using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Batched F32/F16 mat-mul in llamafile tinyBLAS's order (llama.cpp's CPU mul_mat for float weights):
/// every output is one 16-lane FMA chain over the columns, reduced by <see cref="GgmlMath.Sum"/>, so it
/// equals the one-row path bit for bit. 8 weight rows × 3 activation rows share each loaded vector;
/// the columns go in slices whose weight rows (widened to f32 once) sit in L1 while the slice of every
/// activation row streams past, the 16 partial chains per tile carried from slice to slice. Without AVX-512 each
/// 16-lane chain runs as two 8-lane halves (four weight rows per call): the same FMA per lane, so the same bits.
/// </summary>
internal static unsafe class FloatGemm
{
    private const int Lanes = 16;
    private const int Slice = 512;
    private const int RowTile = 8;
    private const int ActTile = 3;
    private const int Chains = RowTile * ActTile;

    [ThreadStatic] private static float[]? t_panel;
    [ThreadStatic] private static float[]? t_state;

    /// <summary>y[j, r] = Σ_c w[r, c]·x[j, c]; columns a multiple of 16; x already rounded to f16 for F16 weights.</summary>
    public static void Run(TensorView w, float* x, int n, float* y, WorkerPool? pool)
    {
        var body = new Body
        {
            Half = w.Type == GgmlType.F16,
            Weights = w.Data,
            Input = x,
            Output = y,
            Columns = checked((int)w.Columns),
            Rows = checked((int)w.Rows),
            Batch = n,
        };
        int panels = (body.Rows + RowTile - 1) / RowTile;
        if (pool is null || pool.ThreadCount == 1)
            body.Invoke(0, panels);
        else
            pool.For(panels, ref body, 1);
    }

    private struct Body : IParallelBody
    {
        public bool Half;
        public byte* Weights;
        public float* Input;
        public float* Output;
        public int Columns, Rows, Batch;

        public readonly void Invoke(int start, int end)
        {
            int tiles = (Batch + ActTile - 1) / ActTile;
            float[] panelArray = t_panel ??= GC.AllocateUninitializedArray<float>(RowTile * Slice + Lanes, pinned: true);
            float[] stateArray = t_state is { } s && s.Length >= tiles * Chains * Lanes + Lanes ? s : (t_state = GC.AllocateUninitializedArray<float>(tiles * Chains * Lanes + Lanes, pinned: true));
            fixed (float* rawPanel = panelArray)
            fixed (float* rawState = stateArray)
            {
                float* panel = (float*)(((nint)rawPanel + 63) & ~(nint)63);
                float* state = (float*)(((nint)rawState + 63) & ~(nint)63);
                for (int p = start; p < end; p++)
                {
                    int r0 = RowTile * p, valid = Math.Min(RowTile, Rows - r0);
                    for (int k0 = 0; k0 < Columns; k0 += Slice)
                    {
                        int len = Math.Min(Slice, Columns - k0);
                        Pack(r0, valid, k0, len, panel);
                        bool first = k0 == 0, last = k0 + len == Columns;
                        for (int t = 0; t < tiles; t++)
                        {
                            int j = ActTile * t, m = Math.Min(ActTile, Batch - j);
                            float* x0 = Input + (long)j * Columns + k0;
                            float* x1 = m > 1 ? x0 + Columns : x0;
                            float* x2 = m > 2 ? x0 + 2L * Columns : x0;
                            var acc = (Vector512<float>*)(state + (long)t * Chains * Lanes);
                            if (Vector512.IsHardwareAccelerated)
                            {
                                Tile(panel, x0, x1, x2, len, acc, first);
                            }
                            else
                            {
                                for (int h = 0; h < 2; h++)
                                {
                                    Tile8(panel, x0, x1, x2, len, (float*)acc, h, first);
                                    if (valid > 4)
                                        Tile8(panel + 4 * Slice, x0, x1, x2, len, (float*)(acc + 3 * 4), h, first);
                                }
                            }
                            if (last)
                            {
                                for (int jj = 0; jj < m; jj++)
                                    for (int r = 0; r < valid; r++)
                                        Output[(long)(j + jj) * Rows + r0 + r] = GgmlMath.Sum(acc[ActTile * r + jj]);
                            }
                        }
                    }
                }
            }
        }

        private readonly void Pack(int r0, int valid, int k0, int len, float* panel)
        {
            for (int r = 0; r < RowTile; r++)
            {
                float* dst = panel + r * Slice;
                if (r >= valid)
                {
                    new Span<float>(dst, len).Clear();
                    continue;
                }
                if (!Half)
                {
                    new ReadOnlySpan<float>((float*)Weights + (long)(r0 + r) * Columns + k0, len).CopyTo(new Span<float>(dst, len));
                    continue;
                }
                ushort* src = (ushort*)Weights + (long)(r0 + r) * Columns + k0;
                for (int c = 0; c < len; c += Lanes)
                {
                    var h = Vector256.Load(src + c);
                    if (!Vector512.IsHardwareAccelerated)
                    {
                        F16.ToFloat(Vector256.WidenLower(h)).Store(dst + c);
                        F16.ToFloat(Vector256.WidenUpper(h)).Store(dst + c + 8);
                        continue;
                    }
                    F16.ToFloat(Vector512.Create(Vector256.WidenLower(h), Vector256.WidenUpper(h))).Store(dst + c);
                }
            }
        }
    }

    // acc[3r + j] is the chain of weight row r with activation row j.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* panel, float* x0, float* x1, float* x2, int len, Vector512<float>* acc, bool first)
    {
        Vector512<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32, c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if (first)
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = Vector512<float>.Zero;
        }
        else
        {
            c00 = acc[0]; c01 = acc[1]; c02 = acc[2];
            c10 = acc[3]; c11 = acc[4]; c12 = acc[5];
            c20 = acc[6]; c21 = acc[7]; c22 = acc[8];
            c30 = acc[9]; c31 = acc[10]; c32 = acc[11];
            c40 = acc[12]; c41 = acc[13]; c42 = acc[14];
            c50 = acc[15]; c51 = acc[16]; c52 = acc[17];
            c60 = acc[18]; c61 = acc[19]; c62 = acc[20];
            c70 = acc[21]; c71 = acc[22]; c72 = acc[23];
        }
        for (int c = 0; c < len; c += Lanes)
        {
            var a0 = Vector512.Load(x0 + c);
            var a1 = Vector512.Load(x1 + c);
            var a2 = Vector512.Load(x2 + c);
            var w0 = Vector512.Load(panel + 0 * Slice + c);
            c00 = Vector512.FusedMultiplyAdd(w0, a0, c00);
            c01 = Vector512.FusedMultiplyAdd(w0, a1, c01);
            c02 = Vector512.FusedMultiplyAdd(w0, a2, c02);
            var w1 = Vector512.Load(panel + 1 * Slice + c);
            c10 = Vector512.FusedMultiplyAdd(w1, a0, c10);
            c11 = Vector512.FusedMultiplyAdd(w1, a1, c11);
            c12 = Vector512.FusedMultiplyAdd(w1, a2, c12);
            var w2 = Vector512.Load(panel + 2 * Slice + c);
            c20 = Vector512.FusedMultiplyAdd(w2, a0, c20);
            c21 = Vector512.FusedMultiplyAdd(w2, a1, c21);
            c22 = Vector512.FusedMultiplyAdd(w2, a2, c22);
            var w3 = Vector512.Load(panel + 3 * Slice + c);
            c30 = Vector512.FusedMultiplyAdd(w3, a0, c30);
            c31 = Vector512.FusedMultiplyAdd(w3, a1, c31);
            c32 = Vector512.FusedMultiplyAdd(w3, a2, c32);
            var w4 = Vector512.Load(panel + 4 * Slice + c);
            c40 = Vector512.FusedMultiplyAdd(w4, a0, c40);
            c41 = Vector512.FusedMultiplyAdd(w4, a1, c41);
            c42 = Vector512.FusedMultiplyAdd(w4, a2, c42);
            var w5 = Vector512.Load(panel + 5 * Slice + c);
            c50 = Vector512.FusedMultiplyAdd(w5, a0, c50);
            c51 = Vector512.FusedMultiplyAdd(w5, a1, c51);
            c52 = Vector512.FusedMultiplyAdd(w5, a2, c52);
            var w6 = Vector512.Load(panel + 6 * Slice + c);
            c60 = Vector512.FusedMultiplyAdd(w6, a0, c60);
            c61 = Vector512.FusedMultiplyAdd(w6, a1, c61);
            c62 = Vector512.FusedMultiplyAdd(w6, a2, c62);
            var w7 = Vector512.Load(panel + 7 * Slice + c);
            c70 = Vector512.FusedMultiplyAdd(w7, a0, c70);
            c71 = Vector512.FusedMultiplyAdd(w7, a1, c71);
            c72 = Vector512.FusedMultiplyAdd(w7, a2, c72);
        }
        acc[0] = c00; acc[1] = c01; acc[2] = c02;
        acc[3] = c10; acc[4] = c11; acc[5] = c12;
        acc[6] = c20; acc[7] = c21; acc[8] = c22;
        acc[9] = c30; acc[10] = c31; acc[11] = c32;
        acc[12] = c40; acc[13] = c41; acc[14] = c42;
        acc[15] = c50; acc[16] = c51; acc[17] = c52;
        acc[18] = c60; acc[19] = c61; acc[20] = c62;
        acc[21] = c70; acc[22] = c71; acc[23] = c72;
    }

    // Without AVX-512: lanes 8h..8h+7 of four weight rows' chains against three activation rows; chain (r, j) is the
    // 16 floats at chains + 16·(3r + j).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8(float* panel, float* x0, float* x1, float* x2, int len, float* chains, int h, bool first)
    {
        const int Step = Lanes;
        float* acc = chains + 8 * h;
        Vector256<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        if (first)
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = Vector256<float>.Zero;
        }
        else
        {
            c00 = Vector256.Load(acc); c01 = Vector256.Load(acc + Step); c02 = Vector256.Load(acc + 2 * Step);
            c10 = Vector256.Load(acc + 3 * Step); c11 = Vector256.Load(acc + 4 * Step); c12 = Vector256.Load(acc + 5 * Step);
            c20 = Vector256.Load(acc + 6 * Step); c21 = Vector256.Load(acc + 7 * Step); c22 = Vector256.Load(acc + 8 * Step);
            c30 = Vector256.Load(acc + 9 * Step); c31 = Vector256.Load(acc + 10 * Step); c32 = Vector256.Load(acc + 11 * Step);
        }
        for (int c = 8 * h; c < len; c += Lanes)
        {
            var a0 = Vector256.Load(x0 + c);
            var a1 = Vector256.Load(x1 + c);
            var a2 = Vector256.Load(x2 + c);
            var w0 = Vector256.Load(panel + c);
            c00 = Vector256.FusedMultiplyAdd(w0, a0, c00);
            c01 = Vector256.FusedMultiplyAdd(w0, a1, c01);
            c02 = Vector256.FusedMultiplyAdd(w0, a2, c02);
            var w1 = Vector256.Load(panel + Slice + c);
            c10 = Vector256.FusedMultiplyAdd(w1, a0, c10);
            c11 = Vector256.FusedMultiplyAdd(w1, a1, c11);
            c12 = Vector256.FusedMultiplyAdd(w1, a2, c12);
            var w2 = Vector256.Load(panel + 2 * Slice + c);
            c20 = Vector256.FusedMultiplyAdd(w2, a0, c20);
            c21 = Vector256.FusedMultiplyAdd(w2, a1, c21);
            c22 = Vector256.FusedMultiplyAdd(w2, a2, c22);
            var w3 = Vector256.Load(panel + 3 * Slice + c);
            c30 = Vector256.FusedMultiplyAdd(w3, a0, c30);
            c31 = Vector256.FusedMultiplyAdd(w3, a1, c31);
            c32 = Vector256.FusedMultiplyAdd(w3, a2, c32);
        }
        c00.Store(acc); c01.Store(acc + Step); c02.Store(acc + 2 * Step);
        c10.Store(acc + 3 * Step); c11.Store(acc + 4 * Step); c12.Store(acc + 5 * Step);
        c20.Store(acc + 6 * Step); c21.Store(acc + 7 * Step); c22.Store(acc + 8 * Step);
        c30.Store(acc + 9 * Step); c31.Store(acc + 10 * Step); c32.Store(acc + 11 * Step);
    }
}
