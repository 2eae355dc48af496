using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Batched F32/F16 mat-mul in llamafile tinyBLAS's order (llama.cpp's CPU mul_mat for float weights):
/// every output is one 16-lane FMA chain over the columns, reduced by <see cref="GgmlMath.Sum"/>, so it
/// equals the one-row path bit for bit. 4 weight rows × 4 activation rows share each loaded vector;
/// the columns go in slices whose weight rows (widened to f32 once) sit in L1 while the slice of every
/// activation row streams past, the 16 partial chains per tile carried from slice to slice.
/// </summary>
internal static unsafe class FloatGemm
{
    private const int Lanes = 16;
    private const int Slice = 512;

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
        int panels = (body.Rows + 3) / 4;
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
            int tiles = (Batch + 3) / 4;
            float[] panelArray = t_panel ??= GC.AllocateUninitializedArray<float>(4 * Slice + Lanes, pinned: true);
            float[] stateArray = t_state is { } s && s.Length >= tiles * 16 * Lanes + Lanes ? s : (t_state = GC.AllocateUninitializedArray<float>(tiles * 16 * Lanes + Lanes, pinned: true));
            fixed (float* rawPanel = panelArray)
            fixed (float* rawState = stateArray)
            {
                float* panel = (float*)(((nint)rawPanel + 63) & ~(nint)63);
                float* state = (float*)(((nint)rawState + 63) & ~(nint)63);
                for (int p = start; p < end; p++)
                {
                    int r0 = 4 * p, valid = Math.Min(4, Rows - r0);
                    for (int k0 = 0; k0 < Columns; k0 += Slice)
                    {
                        int len = Math.Min(Slice, Columns - k0);
                        Pack(r0, valid, k0, len, panel);
                        bool first = k0 == 0, last = k0 + len == Columns;
                        for (int t = 0; t < tiles; t++)
                        {
                            int j = 4 * t, m = Math.Min(4, Batch - j);
                            float* x0 = Input + (long)j * Columns + k0;
                            float* x1 = m > 1 ? x0 + Columns : x0;
                            float* x2 = m > 2 ? x0 + 2L * Columns : x0;
                            float* x3 = m > 3 ? x0 + 3L * Columns : x0;
                            var acc = (Vector512<float>*)(state + (long)t * 16 * Lanes);
                            Tile(panel, x0, x1, x2, x3, len, acc, first);
                            if (last)
                            {
                                for (int jj = 0; jj < m; jj++)
                                    for (int r = 0; r < valid; r++)
                                        Output[(long)(j + jj) * Rows + r0 + r] = GgmlMath.Sum(acc[4 * jj + r]);
                            }
                        }
                    }
                }
            }
        }

        private readonly void Pack(int r0, int valid, int k0, int len, float* panel)
        {
            for (int r = 0; r < 4; r++)
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
                    F16.ToFloat(Vector512.Create(Vector256.WidenLower(h), Vector256.WidenUpper(h))).Store(dst + c);
                }
            }
        }
    }

    // acc[4j + r] is the chain of weight row r with activation row j.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* panel, float* x0, float* x1, float* x2, float* x3, int len, Vector512<float>* acc, bool first)
    {
        Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        if (first)
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = Vector512<float>.Zero;
        }
        else
        {
            c00 = acc[0]; c01 = acc[1]; c02 = acc[2]; c03 = acc[3];
            c10 = acc[4]; c11 = acc[5]; c12 = acc[6]; c13 = acc[7];
            c20 = acc[8]; c21 = acc[9]; c22 = acc[10]; c23 = acc[11];
            c30 = acc[12]; c31 = acc[13]; c32 = acc[14]; c33 = acc[15];
        }
        for (int c = 0; c < len; c += Lanes)
        {
            var w0 = Vector512.Load(panel + c);
            var w1 = Vector512.Load(panel + Slice + c);
            var w2 = Vector512.Load(panel + 2 * Slice + c);
            var w3 = Vector512.Load(panel + 3 * Slice + c);
            var a = Vector512.Load(x0 + c);
            c00 = Vector512.FusedMultiplyAdd(w0, a, c00);
            c01 = Vector512.FusedMultiplyAdd(w1, a, c01);
            c02 = Vector512.FusedMultiplyAdd(w2, a, c02);
            c03 = Vector512.FusedMultiplyAdd(w3, a, c03);
            a = Vector512.Load(x1 + c);
            c10 = Vector512.FusedMultiplyAdd(w0, a, c10);
            c11 = Vector512.FusedMultiplyAdd(w1, a, c11);
            c12 = Vector512.FusedMultiplyAdd(w2, a, c12);
            c13 = Vector512.FusedMultiplyAdd(w3, a, c13);
            a = Vector512.Load(x2 + c);
            c20 = Vector512.FusedMultiplyAdd(w0, a, c20);
            c21 = Vector512.FusedMultiplyAdd(w1, a, c21);
            c22 = Vector512.FusedMultiplyAdd(w2, a, c22);
            c23 = Vector512.FusedMultiplyAdd(w3, a, c23);
            a = Vector512.Load(x3 + c);
            c30 = Vector512.FusedMultiplyAdd(w0, a, c30);
            c31 = Vector512.FusedMultiplyAdd(w1, a, c31);
            c32 = Vector512.FusedMultiplyAdd(w2, a, c32);
            c33 = Vector512.FusedMultiplyAdd(w3, a, c33);
        }
        acc[0] = c00; acc[1] = c01; acc[2] = c02; acc[3] = c03;
        acc[4] = c10; acc[5] = c11; acc[6] = c12; acc[7] = c13;
        acc[8] = c20; acc[9] = c21; acc[10] = c22; acc[11] = c23;
        acc[12] = c30; acc[13] = c31; acc[14] = c32; acc[15] = c33;
    }
}
