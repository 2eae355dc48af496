using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Gguf;
using Fathom.Tensors.Quants;
using Fathom.Threading;

namespace Fathom.Tensors;

/// <summary>
/// Batched mat-mul (prefill) for Q4_0 and Q4_K weights in the order llama.cpp's CPU backend uses on
/// AVX2/AVX-512 machines, where it repacks these types into 8-row interleaved blocks: per output,
/// the exact integer sum of each block (Q4_0: 32 values; Q4_K: 64 scaled values in whole groups of 4
/// activation rows, the 256-value super-block in the leftover rows, as llama.cpp's GEMM and GEMV do;
/// mins in a second chain) is converted to float and added by one FMA with d_w·d_x, block after block
/// (<see cref="GemmReference"/> is the scalar statement of that order). Here a panel of 16 weight
/// rows is interleaved per call into a per-thread buffer, from the load-time <see cref="PackedWeight"/>
/// (32-byte copies) or else from the file's layout; each 32-bit lane of a 512-bit vector holds one weight row, and 4
/// activation rows share every unpacked weight vector. Without AVX-512BW the same panel is read as two 8-row halves
/// by 256-bit kernels (AVX2): every lane takes the same operations in the same order, so the bits are the same.
/// </summary>
internal static unsafe class Gemm
{
    private const int PanelRows = 16;
    private const int Q4_0PanelBlock = 64 + 4 * 64;
    private const int Q4_KPanelBlock = 128 + 8 * 64 + 4 * 64 + 32 * 64;

    [ThreadStatic] private static byte[]? t_panel;
    [ThreadStatic] private static int[]? t_sums;

    /// <summary>True when this machine runs the interleaved kernels (AVX-512BW, or AVX2 with FMA).</summary>
    public static bool IsSupported => Wide || (Simd.UseAvx2Kernels && Fma.IsSupported);

    /// <summary>True when the 512-bit kernels run (AVX-512BW); the other batched kernels (<see cref="Q8Gemm"/>, <see cref="Q6KGemm"/>) need it.</summary>
    public static bool Wide => Vector512.IsHardwareAccelerated && Avx512BW.IsSupported;

    /// <summary>
    /// True when a batch of <paramref name="n"/> rows times <paramref name="w"/> goes through the interleaved
    /// order: the weight types llama.cpp repacks here, whose row count is a multiple of 8 (its repack rule),
    /// except the token embedding (llama.cpp keeps that one unpacked for get_rows).
    /// </summary>
    public static bool Applies(TensorView w, int n) =>
        n >= 2 && IsSupported && InterleavedOrder(w);

    /// <summary>Whether llama.cpp would sum this tensor's batched products in the interleaved order.</summary>
    public static bool InterleavedOrder(TensorView w) =>
        (w.Type == GgmlType.Q4_0 || w.Type == GgmlType.Q4_K) && w.Rows % 8 == 0 && w.Name != "token_embd.weight";

    /// <summary>y[j, r] for all j &lt; n; act holds the rows already in the vec-dot format (Q8_0 or Q8_K).</summary>
    public static void Run(TensorView w, byte* act, int actRowBytes, int n, float* y, WorkerPool? pool, PackedWeight? packed = null)
    {
        int cols = (int)w.Columns, rows = (int)w.Rows;
        int* sums = null;
        int[]? sumArray = null;
        if (w.Type == GgmlType.Q4_0)
        {
            // −8·Σq of every activation block: Q4_0's offset folded in once per activation row.
            int nb = cols / 32;
            long need = (long)nb * n;
            sumArray = t_sums is { } s && s.Length >= need ? s : (t_sums = GC.AllocateUninitializedArray<int>(checked((int)need), pinned: true));
            fixed (int* ps = sumArray)
            {
                sums = ps;
                for (int j = 0; j < n; j++)
                    BlockSums((BlockQ8_0*)(act + (long)j * actRowBytes), nb, sums + (long)j * nb);
            }
        }
        var body = new Body
        {
            Type = w.Type,
            Weights = w.Data,
            Packed = packed is null ? null : packed.Data,
            WeightRowBytes = w.RowBytes,
            Act = act,
            ActRowBytes = actRowBytes,
            Sums = sums,
            Output = y,
            Columns = cols,
            Rows = rows,
            Batch = n,
        };
        int panels = (rows + PanelRows - 1) / PanelRows;
        if (pool is null || pool.ThreadCount == 1)
            body.Invoke(0, panels);
        else
            pool.For(panels, ref body, 1);
        GC.KeepAlive(sumArray);
        GC.KeepAlive(packed);
    }

    private static void BlockSums(BlockQ8_0* a, int nb, int* dst)
    {
        for (int b = 0; b < nb; b++)
        {
            var q = Vector256.Load(a[b].Qs);
            var s16 = Avx2.MultiplyAddAdjacent(Vector256.Create((byte)1), q);
            dst[b] = -8 * Vector256.Sum(Avx2.MultiplyAddAdjacent(s16, Vector256<short>.One));
        }
    }

    private struct Body : IParallelBody
    {
        public GgmlType Type;
        public byte* Weights, Packed;
        public long WeightRowBytes;
        public byte* Act;
        public int ActRowBytes;
        public int* Sums;
        public float* Output;
        public int Columns, Rows, Batch;

        public readonly void Invoke(int start, int end)
        {
            bool q40 = Type == GgmlType.Q4_0;
            int blocks = q40 ? Columns / 32 : Columns / 256;
            int panelBytes = blocks * (q40 ? Q4_0PanelBlock : Q4_KPanelBlock);
            byte[] buffer = t_panel is { } p && p.Length >= panelBytes + 64 ? p : (t_panel = GC.AllocateUninitializedArray<byte>(panelBytes + 64, pinned: true));
            fixed (byte* raw = buffer)
            {
                byte* panel = (byte*)(((nint)raw + 63) & ~(nint)63);
                float* spill = stackalloc float[4 * PanelRows];
                for (int pi = start; pi < end; pi++)
                {
                    int r0 = pi * PanelRows, valid = Math.Min(PanelRows, Rows - r0);
                    if (Packed != null && q40)
                        PanelQ4_0(Packed + (long)(r0 / PackedWeight.GroupRows) * blocks * 144, valid, blocks, panel);
                    else if (Packed != null)
                        PanelQ4_K(Packed + (long)(r0 / PackedWeight.GroupRows) * blocks * 1152, valid, blocks, panel);
                    else if (q40)
                        PackQ4_0(Weights + r0 * WeightRowBytes, WeightRowBytes, valid, blocks, panel);
                    else
                        PackQ4_K(Weights + r0 * WeightRowBytes, WeightRowBytes, valid, blocks, panel);
                    for (int j = 0; j < Batch; j += 4)
                    {
                        int m = Math.Min(4, Batch - j);
                        // Missing rows of the last tile repeat row j; their outputs land in the spill area.
                        byte* a0 = Act + (long)j * ActRowBytes;
                        byte* a1 = m > 1 ? a0 + ActRowBytes : a0;
                        byte* a2 = m > 2 ? a0 + 2L * ActRowBytes : a0;
                        byte* a3 = m > 3 ? a0 + 3L * ActRowBytes : a0;
                        bool direct = valid == PanelRows;
                        float* o0 = direct ? Output + (long)j * Rows + r0 : spill;
                        float* o1 = direct && m > 1 ? o0 + Rows : spill + PanelRows;
                        float* o2 = direct && m > 2 ? o0 + 2L * Rows : spill + 2 * PanelRows;
                        float* o3 = direct && m > 3 ? o0 + 3L * Rows : spill + 3 * PanelRows;
                        if (q40)
                        {
                            int* s0 = Sums + (long)j * blocks;
                            int* s1 = m > 1 ? s0 + blocks : s0, s2 = m > 2 ? s0 + 2 * blocks : s0, s3 = m > 3 ? s0 + 3 * blocks : s0;
                            if (Wide)
                            {
                                Q4_0Kernel(panel, blocks, (BlockQ8_0*)a0, (BlockQ8_0*)a1, (BlockQ8_0*)a2, (BlockQ8_0*)a3, s0, s1, s2, s3, o0, o1, o2, o3);
                            }
                            else
                            {
                                // A panel whose second half is padding only needs its first.
                                for (int h = 0; h < 2 && 8 * h < valid; h++)
                                {
                                    Q4_0Kernel8(panel, h, blocks, (BlockQ8_0*)a0, (BlockQ8_0*)a1, (BlockQ8_0*)a2, (BlockQ8_0*)a3, s0, s1, s2, s3,
                                        o0 + 8 * h, o1 + 8 * h, o2 + 8 * h, o3 + 8 * h);
                                }
                            }
                        }
                        else if (Wide)
                        {
                            Q4_KKernel(panel, blocks, (BlockQ8_K*)a0, (BlockQ8_K*)a1, (BlockQ8_K*)a2, (BlockQ8_K*)a3, o0, o1, o2, o3, gemm4: m == 4);
                        }
                        else
                        {
                            // Two activation rows per call (AVX2 has 16 registers); the order is still the 4-row tile's.
                            for (int h = 0; h < 2 && 8 * h < valid; h++)
                            {
                                Q4_KKernel8(panel, h, blocks, (BlockQ8_K*)a0, (BlockQ8_K*)a1, o0 + 8 * h, o1 + 8 * h, gemm4: m == 4);
                                if (m > 2)
                                    Q4_KKernel8(panel, h, blocks, (BlockQ8_K*)a2, (BlockQ8_K*)a3, o2 + 8 * h, o3 + 8 * h, gemm4: m == 4);
                            }
                        }
                        if (!direct)
                        {
                            for (int k = 0; k < m; k++)
                                new ReadOnlySpan<float>(spill + k * PanelRows, valid).CopyTo(new Span<float>(Output + (long)(j + k) * Rows + r0, valid));
                        }
                    }
                }
            }
        }
    }

    // Per block: 16 f32 scales, then four 64-byte chunks whose lane r holds bytes 4c..4c+3 of row r's nibbles.
    private static void PackQ4_0(byte* w, long rowBytes, int valid, int blocks, byte* panel)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* dst = panel + (long)b * Q4_0PanelBlock;
            for (int r = 0; r < PanelRows; r++)
            {
                if (r < valid)
                {
                    var x = (BlockQ4_0*)(w + r * rowBytes) + b;
                    ((float*)dst)[r] = F16.Lookup(x->D);
                    for (int c = 0; c < 4; c++)
                        *(uint*)(dst + 64 + 64 * c + 4 * r) = Unsafe.ReadUnaligned<uint>(x->Qs + 4 * c);
                }
                else
                {
                    ((float*)dst)[r] = 0;
                    for (int c = 0; c < 4; c++)
                        *(uint*)(dst + 64 + 64 * c + 4 * r) = 0x88888888;
                }
            }
        }
    }

    // The same panel from a PackedWeight (its 8-row groups at src and src + blocks·144): 32-byte copies per chunk.
    private static void PanelQ4_0(byte* src, int valid, int blocks, byte* panel)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* dst = panel + (long)b * Q4_0PanelBlock;
            for (int h = 0; h < 2; h++)
            {
                byte* g = src + ((long)h * blocks + b) * 144;
                for (int r = 0; r < 8; r++)
                    ((float*)dst)[8 * h + r] = h * 8 < valid ? F16.Lookup(((ushort*)g)[r]) : 0;
                for (int c = 0; c < 4; c++)
                {
                    var v = h * 8 < valid ? Vector256.Load(g + 16 + 32 * c) : Vector256.Create((byte)0x88);
                    v.Store(dst + 64 + 64 * c + 32 * h);
                }
            }
        }
    }

    private static void PanelQ4_K(byte* src, int valid, int blocks, byte* panel)
    {
        byte* scales = stackalloc byte[12];
        for (int b = 0; b < blocks; b++)
        {
            byte* dst = panel + (long)b * Q4_KPanelBlock;
            for (int h = 0; h < 2; h++)
            {
                byte* g = src + ((long)h * blocks + b) * 1152;
                bool live = h * 8 < valid;
                for (int r = 0; r < 8; r++)
                {
                    int lane = 8 * h + r;
                    ((float*)dst)[lane] = live ? F16.Lookup(((ushort*)g)[r]) : 0;
                    ((float*)dst)[16 + lane] = live ? F16.Lookup(((ushort*)g)[8 + r]) : 0;
                    for (int t = 0; t < 3; t++)
                        *(uint*)(scales + 4 * t) = live ? *(uint*)(g + 32 + 32 * t + 4 * r) : 0;
                    int m0 = 0;
                    for (int t = 0; t < 8; t++)
                    {
                        Dequantize.ScaleMinK4(t, scales, out int sc, out int mn);
                        *(uint*)(dst + 128 + 64 * t + 4 * lane) = (uint)sc | ((uint)sc << 16);
                        if ((t & 1) == 0)
                            m0 = mn;
                        else
                            *(uint*)(dst + 640 + 64 * (t >> 1) + 4 * lane) = (uint)m0 | ((uint)mn << 16);
                    }
                }
                for (int q = 0; q < 32; q++)
                    (live ? Vector256.Load(g + 128 + 32 * q) : Vector256<byte>.Zero).Store(dst + 896 + 64 * q + 32 * h);
            }
        }
    }

    // Per super-block: d[16], dmin[16] (f32); 8 scale vectors (lane r: the row's 6-bit scale twice, as shorts);
    // 4 min vectors (lane r: mins 2k, 2k+1 as shorts); 32 chunks (k, c) whose lane r holds bytes 32k+4c..+3 of row r.
    private static void PackQ4_K(byte* w, long rowBytes, int valid, int blocks, byte* panel)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* dst = panel + (long)b * Q4_KPanelBlock;
            for (int r = 0; r < PanelRows; r++)
            {
                if (r >= valid)
                {
                    ((float*)dst)[r] = 0;
                    ((float*)dst)[16 + r] = 0;
                    for (int t = 0; t < 8; t++)
                        *(uint*)(dst + 128 + 64 * t + 4 * r) = 0;
                    for (int k = 0; k < 4; k++)
                        *(uint*)(dst + 640 + 64 * k + 4 * r) = 0;
                    for (int q = 0; q < 32; q++)
                        *(uint*)(dst + 896 + 64 * q + 4 * r) = 0;
                    continue;
                }
                var x = (BlockQ4_K*)(w + r * rowBytes) + b;
                ((float*)dst)[r] = F16.Lookup(x->D);
                ((float*)dst)[16 + r] = F16.Lookup(x->DMin);
                int m0 = 0;
                for (int t = 0; t < 8; t++)
                {
                    Dequantize.ScaleMinK4(t, x->Scales, out int sc, out int mn);
                    *(uint*)(dst + 128 + 64 * t + 4 * r) = (uint)sc | ((uint)sc << 16);
                    if ((t & 1) == 0)
                        m0 = mn;
                    else
                        *(uint*)(dst + 640 + 64 * (t >> 1) + 4 * r) = (uint)m0 | ((uint)mn << 16);
                }
                for (int q = 0; q < 32; q++)
                    *(uint*)(dst + 896 + 64 * q + 4 * r) = Unsafe.ReadUnaligned<uint>(x->Qs + 4 * q);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Broadcast(sbyte* p) => Vector512.Create(Unsafe.ReadUnaligned<int>(p)).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Dot(Vector512<byte> w, sbyte* a) => Avx512BW.MultiplyAddAdjacent(w, Broadcast(a));

    private static void Q4_0Kernel(byte* panel, int blocks, BlockQ8_0* a0, BlockQ8_0* a1, BlockQ8_0* a2, BlockQ8_0* a3,
        int* s0, int* s1, int* s2, int* s3, float* o0, float* o1, float* o2, float* o3)
    {
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, a0++, a1++, a2++, a3++)
        {
            byte* blk = panel + (long)b * Q4_0PanelBlock;
            Vector512<short> p0 = default, p1 = default, p2 = default, p3 = default;
            for (int c = 0; c < 4; c++)
            {
                var raw = Vector512.Load(blk + 64 + 64 * c);
                var lo = raw & low;
                var hi = Vector512.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                p0 += Dot(lo, a0->Qs + 4 * c) + Dot(hi, a0->Qs + 16 + 4 * c);
                p1 += Dot(lo, a1->Qs + 4 * c) + Dot(hi, a1->Qs + 16 + 4 * c);
                p2 += Dot(lo, a2->Qs + 4 * c) + Dot(hi, a2->Qs + 16 + 4 * c);
                p3 += Dot(lo, a3->Qs + 4 * c) + Dot(hi, a3->Qs + 16 + 4 * c);
            }
            var d = Vector512.Load((float*)blk);
            f0 = Step(f0, p0, s0[b], d, F16.Lookup(a0->D));
            f1 = Step(f1, p1, s1[b], d, F16.Lookup(a1->D));
            f2 = Step(f2, p2, s2[b], d, F16.Lookup(a2->D));
            f3 = Step(f3, p3, s3[b], d, F16.Lookup(a3->D));
        }
        f0.Store(o0);
        f1.Store(o1);
        f2.Store(o2);
        f3.Store(o3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step(Vector512<float> acc, Vector512<short> pairs, int offset, Vector512<float> dw, float dx)
    {
        var sum = Avx512BW.MultiplyAddAdjacent(pairs, Vector512<short>.One) + Vector512.Create(offset);
        return Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(sum), dw * Vector512.Create(dx), acc);
    }

    // gemm4: one FMA per 64 values (llama.cpp's repacked GEMM on 4-row groups); otherwise one per super-block (its GEMV).
    private static void Q4_KKernel(byte* panel, int blocks, BlockQ8_K* a0, BlockQ8_K* a1, BlockQ8_K* a2, BlockQ8_K* a3,
        float* o0, float* o1, float* o2, float* o3, bool gemm4)
    {
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            byte* blk = panel + (long)b * Q4_KPanelBlock;
            BlockQ8_K* x0 = a0 + b, x1 = a1 + b, x2 = a2 + b, x3 = a3 + b;
            var d = Vector512.Load((float*)blk);
            Vector512<float> d0 = d * Vector512.Create(x0->D), d1 = d * Vector512.Create(x1->D), d2 = d * Vector512.Create(x2->D), d3 = d * Vector512.Create(x3->D);
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int k = 0; k < 4; k++)
            {
                Vector512<short> l0 = default, l1 = default, l2 = default, l3 = default;
                Vector512<short> h0 = default, h1 = default, h2 = default, h3 = default;
                byte* q = blk + 896 + 512 * k;
                int off = 64 * k;
                for (int c = 0; c < 8; c++)
                {
                    var raw = Vector512.Load(q + 64 * c);
                    var lo = raw & low;
                    var hi = Vector512.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                    int o = off + 4 * c;
                    l0 += Dot(lo, x0->Qs + o);
                    h0 += Dot(hi, x0->Qs + o + 32);
                    l1 += Dot(lo, x1->Qs + o);
                    h1 += Dot(hi, x1->Qs + o + 32);
                    l2 += Dot(lo, x2->Qs + o);
                    h2 += Dot(hi, x2->Qs + o + 32);
                    l3 += Dot(lo, x3->Qs + o);
                    h3 += Dot(hi, x3->Qs + o + 32);
                }
                var sl = Vector512.Load((short*)(blk + 128 + 128 * k));
                var sh = Vector512.Load((short*)(blk + 192 + 128 * k));
                i0 += Avx512BW.MultiplyAddAdjacent(l0, sl) + Avx512BW.MultiplyAddAdjacent(h0, sh);
                i1 += Avx512BW.MultiplyAddAdjacent(l1, sl) + Avx512BW.MultiplyAddAdjacent(h1, sh);
                i2 += Avx512BW.MultiplyAddAdjacent(l2, sl) + Avx512BW.MultiplyAddAdjacent(h2, sh);
                i3 += Avx512BW.MultiplyAddAdjacent(l3, sl) + Avx512BW.MultiplyAddAdjacent(h3, sh);
                if (gemm4)
                {
                    f0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i0), d0, f0);
                    f1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i1), d1, f1);
                    f2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i2), d2, f2);
                    f3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i3), d3, f3);
                    i0 = i1 = i2 = i3 = default;
                }
            }
            if (!gemm4)
            {
                f0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i0), d0, f0);
                f1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i1), d1, f1);
                f2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i2), d2, f2);
                f3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i3), d3, f3);
            }
        }

        // The mins form a separate FMA chain in llama.cpp, subtracted at the end.
        Vector512<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* blk = panel + (long)b * Q4_KPanelBlock;
            var dmin = Vector512.Load((float*)blk + 16);
            m0 = MinStep(m0, blk, a0 + b, dmin, gemm4);
            m1 = MinStep(m1, blk, a1 + b, dmin, gemm4);
            m2 = MinStep(m2, blk, a2 + b, dmin, gemm4);
            m3 = MinStep(m3, blk, a3 + b, dmin, gemm4);
        }
        (f0 - m0).Store(o0);
        (f1 - m1).Store(o1);
        (f2 - m2).Store(o2);
        (f3 - m3).Store(o3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MinStep(Vector512<float> acc, byte* blk, BlockQ8_K* x, Vector512<float> dmin, bool gemm4)
    {
        short* bs = x->BSums;
        var dd = dmin * Vector512.Create(x->D);
        var sum = Vector512<int>.Zero;
        for (int k = 0; k < 4; k++)
        {
            // Lane r pairs the row's mins 2k, 2k+1 with the activation sums of sub-blocks 2k, 2k+1 (32 values each).
            uint pair = (ushort)(short)(bs[4 * k] + bs[4 * k + 1]) | ((uint)(ushort)(short)(bs[4 * k + 2] + bs[4 * k + 3]) << 16);
            sum += Avx512BW.MultiplyAddAdjacent(Vector512.Load((short*)(blk + 640 + 64 * k)), Vector512.Create(pair).AsInt16());
            if (gemm4)
            {
                acc = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(sum), dd, acc);
                sum = Vector512<int>.Zero;
            }
        }
        return gemm4 ? acc : Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(sum), dd, acc);
    }

    // ---- AVX2: one 8-row half (h) of the same panels, every lane through the 512-bit kernels' operations.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Dot8(Vector256<byte> w, sbyte* a) =>
        Avx2.MultiplyAddAdjacent(w, Vector256.Create(Unsafe.ReadUnaligned<int>(a)).AsSByte());

    private static void Q4_0Kernel8(byte* panel, int h, int blocks, BlockQ8_0* a0, BlockQ8_0* a1, BlockQ8_0* a2, BlockQ8_0* a3,
        int* s0, int* s1, int* s2, int* s3, float* o0, float* o1, float* o2, float* o3)
    {
        if (AvxVnni.IsSupported)
        {
            Q4_0Kernel8Vnni(panel, h, blocks, a0, a1, a2, a3, s0, s1, s2, s3, o0, o1, o2, o3);
            return;
        }
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        var low = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, a0++, a1++, a2++, a3++)
        {
            byte* blk = panel + (long)b * Q4_0PanelBlock + 32 * h;
            Vector256<short> p0 = default, p1 = default, p2 = default, p3 = default;
            for (int c = 0; c < 4; c++)
            {
                var raw = Vector256.Load(blk + 64 + 64 * c);
                var lo = raw & low;
                var hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                p0 += Dot8(lo, a0->Qs + 4 * c) + Dot8(hi, a0->Qs + 16 + 4 * c);
                p1 += Dot8(lo, a1->Qs + 4 * c) + Dot8(hi, a1->Qs + 16 + 4 * c);
                p2 += Dot8(lo, a2->Qs + 4 * c) + Dot8(hi, a2->Qs + 16 + 4 * c);
                p3 += Dot8(lo, a3->Qs + 4 * c) + Dot8(hi, a3->Qs + 16 + 4 * c);
            }
            var d = Vector256.Load((float*)(panel + (long)b * Q4_0PanelBlock) + 8 * h);
            f0 = Step8(f0, Avx2.MultiplyAddAdjacent(p0, Vector256<short>.One), s0[b], d, F16.Lookup(a0->D));
            f1 = Step8(f1, Avx2.MultiplyAddAdjacent(p1, Vector256<short>.One), s1[b], d, F16.Lookup(a1->D));
            f2 = Step8(f2, Avx2.MultiplyAddAdjacent(p2, Vector256<short>.One), s2[b], d, F16.Lookup(a2->D));
            f3 = Step8(f3, Avx2.MultiplyAddAdjacent(p3, Vector256<short>.One), s3[b], d, F16.Lookup(a3->D));
        }
        f0.Store(o0);
        f1.Store(o1);
        f2.Store(o2);
        f3.Store(o3);
    }

    // With AVX-VNNI: vpdpbusd sums each lane's four nibble × byte products straight into int32, the same integer as
    // the vpmaddubsw pairs (never saturated: |pair| ≤ 2·15·127) summed as shorts and widened, so the same bits.
    private static void Q4_0Kernel8Vnni(byte* panel, int h, int blocks, BlockQ8_0* a0, BlockQ8_0* a1, BlockQ8_0* a2, BlockQ8_0* a3,
        int* s0, int* s1, int* s2, int* s3, float* o0, float* o1, float* o2, float* o3)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        var low = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, a0++, a1++, a2++, a3++)
        {
            byte* blk = panel + (long)b * Q4_0PanelBlock + 32 * h;
            // Low and high nibbles in separate chains: vpdpbusd's latency, not its throughput, would bound one chain.
            Vector256<int> p0 = default, p1 = default, p2 = default, p3 = default, q0 = default, q1 = default, q2 = default, q3 = default;
            for (int c = 0; c < 4; c++)
            {
                var raw = Vector256.Load(blk + 64 + 64 * c);
                var lo = raw & low;
                var hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                p0 = Vnni8(p0, lo, a0->Qs + 4 * c);
                q0 = Vnni8(q0, hi, a0->Qs + 16 + 4 * c);
                p1 = Vnni8(p1, lo, a1->Qs + 4 * c);
                q1 = Vnni8(q1, hi, a1->Qs + 16 + 4 * c);
                p2 = Vnni8(p2, lo, a2->Qs + 4 * c);
                q2 = Vnni8(q2, hi, a2->Qs + 16 + 4 * c);
                p3 = Vnni8(p3, lo, a3->Qs + 4 * c);
                q3 = Vnni8(q3, hi, a3->Qs + 16 + 4 * c);
            }
            var d = Vector256.Load((float*)(panel + (long)b * Q4_0PanelBlock) + 8 * h);
            f0 = Step8(f0, p0 + q0, s0[b], d, F16.Lookup(a0->D));
            f1 = Step8(f1, p1 + q1, s1[b], d, F16.Lookup(a1->D));
            f2 = Step8(f2, p2 + q2, s2[b], d, F16.Lookup(a2->D));
            f3 = Step8(f3, p3 + q3, s3[b], d, F16.Lookup(a3->D));
        }
        f0.Store(o0);
        f1.Store(o1);
        f2.Store(o2);
        f3.Store(o3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Vnni8(Vector256<int> acc, Vector256<byte> w, sbyte* a) =>
        AvxVnni.MultiplyWideningAndAdd(acc, w, Vector256.Create(Unsafe.ReadUnaligned<int>(a)).AsSByte());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step8(Vector256<float> acc, Vector256<int> lanes, int offset, Vector256<float> dw, float dx)
    {
        var sum = lanes + Vector256.Create(offset);
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum), dw * Vector256.Create(dx), acc);
    }

    private static void Q4_KKernel8(byte* panel, int h, int blocks, BlockQ8_K* a0, BlockQ8_K* a1, float* o0, float* o1, bool gemm4)
    {
        Vector256<float> f0 = default, f1 = default;
        var low = Vector256.Create((byte)0x0F);
        bool vnni = AvxVnni.IsSupported;
        for (int b = 0; b < blocks; b++)
        {
            byte* blk = panel + (long)b * Q4_KPanelBlock + 32 * h;
            BlockQ8_K* x0 = a0 + b, x1 = a1 + b;
            var d = Vector256.Load((float*)(panel + (long)b * Q4_KPanelBlock) + 8 * h);
            Vector256<float> d0 = d * Vector256.Create(x0->D), d1 = d * Vector256.Create(x1->D);
            Vector256<int> i0 = default, i1 = default;
            for (int k = 0; k < 4; k++)
            {
                byte* q = blk + 896 + 512 * k;
                int off = 64 * k;
                var sl = Vector256.Load((short*)(blk + 128 + 128 * k));
                var sh = Vector256.Load((short*)(blk + 192 + 128 * k));
                if (vnni)
                {
                    // Each lane's 32 products summed straight into int32 (the same integer as the short pairs below),
                    // times the sub-block's scale (one of the two equal shorts in each lane).
                    // Even and odd chunks in separate chains, so vpdpbusd's latency does not bound them.
                    Vector256<int> l0 = default, l1 = default, h0 = default, h1 = default, e0 = default, e1 = default, g0 = default, g1 = default;
                    for (int c = 0; c < 8; c += 2)
                    {
                        var raw = Vector256.Load(q + 64 * c);
                        var lo = raw & low;
                        var hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                        int o = off + 4 * c;
                        l0 = Vnni8(l0, lo, x0->Qs + o);
                        h0 = Vnni8(h0, hi, x0->Qs + o + 32);
                        l1 = Vnni8(l1, lo, x1->Qs + o);
                        h1 = Vnni8(h1, hi, x1->Qs + o + 32);
                        raw = Vector256.Load(q + 64 * c + 64);
                        lo = raw & low;
                        hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                        e0 = Vnni8(e0, lo, x0->Qs + o + 4);
                        g0 = Vnni8(g0, hi, x0->Qs + o + 36);
                        e1 = Vnni8(e1, lo, x1->Qs + o + 4);
                        g1 = Vnni8(g1, hi, x1->Qs + o + 36);
                    }
                    var scl = sl.AsInt32() & Vector256.Create(0xFFFF);
                    var sch = sh.AsInt32() & Vector256.Create(0xFFFF);
                    i0 += (l0 + e0) * scl + (h0 + g0) * sch;
                    i1 += (l1 + e1) * scl + (h1 + g1) * sch;
                }
                else
                {
                    Vector256<short> l0 = default, l1 = default, h0 = default, h1 = default;
                    for (int c = 0; c < 8; c++)
                    {
                        var raw = Vector256.Load(q + 64 * c);
                        var lo = raw & low;
                        var hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low;
                        int o = off + 4 * c;
                        l0 += Dot8(lo, x0->Qs + o);
                        h0 += Dot8(hi, x0->Qs + o + 32);
                        l1 += Dot8(lo, x1->Qs + o);
                        h1 += Dot8(hi, x1->Qs + o + 32);
                    }
                    i0 += Avx2.MultiplyAddAdjacent(l0, sl) + Avx2.MultiplyAddAdjacent(h0, sh);
                    i1 += Avx2.MultiplyAddAdjacent(l1, sl) + Avx2.MultiplyAddAdjacent(h1, sh);
                }
                if (gemm4)
                {
                    f0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i0), d0, f0);
                    f1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1), d1, f1);
                    i0 = i1 = default;
                }
            }
            if (!gemm4)
            {
                f0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i0), d0, f0);
                f1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1), d1, f1);
            }
        }

        Vector256<float> m0 = default, m1 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* blk = panel + (long)b * Q4_KPanelBlock;
            var dmin = Vector256.Load((float*)blk + 16 + 8 * h);
            m0 = MinStep8(m0, blk + 32 * h, a0 + b, dmin, gemm4);
            m1 = MinStep8(m1, blk + 32 * h, a1 + b, dmin, gemm4);
        }
        (f0 - m0).Store(o0);
        (f1 - m1).Store(o1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MinStep8(Vector256<float> acc, byte* blk, BlockQ8_K* x, Vector256<float> dmin, bool gemm4)
    {
        short* bs = x->BSums;
        var dd = dmin * Vector256.Create(x->D);
        var sum = Vector256<int>.Zero;
        for (int k = 0; k < 4; k++)
        {
            uint pair = (ushort)(short)(bs[4 * k] + bs[4 * k + 1]) | ((uint)(ushort)(short)(bs[4 * k + 2] + bs[4 * k + 3]) << 16);
            sum += Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(blk + 640 + 64 * k)), Vector256.Create(pair).AsInt16());
            if (gemm4)
            {
                acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum), dd, acc);
                sum = Vector256<int>.Zero;
            }
        }
        return gemm4 ? acc : Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum), dd, acc);
    }
}
