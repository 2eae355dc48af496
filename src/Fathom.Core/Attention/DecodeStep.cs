using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.KvCache;
using Fathom.Models;
using Fathom.Tensors;

namespace Fathom.Attention;

/// <summary>
/// The tiled path's decode step: one query token, the query heads of one KV head, one page of keys and values (read
/// from the page and widened in registers by <see cref="FoldPage"/>, or widened beforehand). Scores blocks of keys ×
/// four query heads per pass, folds them into each head's online softmax, then runs P·V for four query heads at once
/// with their accumulators in registers across the page, so a value row is loaded once for the whole group. Each
/// kernel has an AVX-512 form and an AVX2 form (half the width, half the registers: smaller blocks); the choice is a
/// JIT-time constant.
/// </summary>
internal static class DecodeStep
{
    private const int Lanes = 16;

    // Below this a score's exp is 0 to float precision (and masked slots are −inf).
    private const float Floor = -87f;

    /// <summary>
    /// exp(x) for x up to 87 (a score less a running max), and exactly 0 where x is below <see cref="Floor"/> (−inf
    /// included) instead of ggml's slow lanes; NaN stays NaN. The clamp is a plain vmaxps, which returns its second
    /// operand, x, when x is NaN (Vector512.Max's NaN rules cost two more operations a vector).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpOrZero(Vector512<float> x)
    {
        var floor = Vector512.Create(Floor);
        var clamped = Avx512F.IsSupported ? Avx512F.Max(floor, x) : Vector512.Max(x, floor);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, floor), Vector512<float>.Zero, GgmlMath.ExpInRange(clamped));
    }

    public static bool Supports(AttentionShape shape) =>
        Avx512F.IsSupported && shape.KeyLength % Lanes == 0 && shape.ValueLength % Lanes == 0;

    /// <summary>
    /// Whether the fold kernels (<see cref="FoldTransposed"/>, <see cref="FoldWidened"/>, and <see cref="FoldPage"/> for
    /// the types it reads) run for this shape: AVX-512, or AVX2 with FMA; key and value lengths multiples of 16.
    /// </summary>
    public static bool HasKernels(AttentionShape shape) =>
        (Avx512F.IsSupported || (Avx2.IsSupported && Fma.IsSupported)) && shape.KeyLength % Lanes == 0 && shape.ValueLength % Lanes == 0;

    /// <summary>Floats of score scratch <see cref="Fold"/> needs for a group of <paramref name="group"/> over pages of <paramref name="pageSize"/>.</summary>
    public static int ScoreFloats(int group, int pageSize) => PadGroup(group) * RoundUp(pageSize) + Lanes;

    /// <summary>The group rounded up to whole blocks of four query heads (what <see cref="FoldPage"/> computes on).</summary>
    public static int PadGroup(int group) => (group + 3) & ~3;

    public static int RoundUp(int n) => (n + Lanes - 1) / Lanes * Lanes;

    /// <summary>
    /// Folds <paramref name="rows"/> keys (k, <paramref name="ks"/> floats apart) and values (v, <paramref name="vs"/> apart)
    /// into the state of each of the <paramref name="group"/> query rows q (dk floats each): state + r·stride holds
    /// (m, l, acc[dv]). Slots whose <paramref name="visible"/> bit is clear are skipped. The buffers behind k and v must
    /// hold whole 16-row chunks (rows past <paramref name="rows"/> are read, not used).
    /// </summary>
    public static unsafe void Fold(float* q, int group, int dk, int dv, float* k, int ks, float* v, int vs, int rows, float scale,
        ReadOnlySpan<byte> mask, int maskBase, float* s, float* state, int stride, float* raw = null, int rawStride = 0)
    {
        int rowsPad = RoundUp(rows);
        for (int r = 0; r < group; r++)
        {
            for (int j = 0; j < rows; j += Lanes)
                CausalAttention.Dot16(q + (long)r * dk, k + (long)j * ks, dk, ks, scale, s + (long)r * rowsPad + j);
        }
        Span<float> corr = stackalloc float[group];
        if (!Normalize(group, rows, mask, maskBase, s, state, stride, corr, raw, rawStride))
            return;
        Accumulate(group, dv, s, rowsPad, (byte*)v, vs, rows, state, stride, corr);
    }

    // P·V of float value rows (vs floats apart) for every row of the group into its state, scaled by corr first.
    private static unsafe void Accumulate(int group, int dv, float* s, int rowsPad, byte* v, int vs, int rows, float* state, int stride, ReadOnlySpan<float> corr)
    {
        int r0 = 0;
        if (!Avx512F.IsSupported)
        {
            // AVX2: four rows × 16 floats per pass, then the rows past the last block of four alone, 8 lanes.
            for (; r0 + 4 <= group; r0 += 4)
            {
                for (int d = 0; d < dv; d += Lanes)
                    Accumulate4x16<FloatRows>(s + (long)r0 * rowsPad, rowsPad, v, 4 * vs, null, 0, d, rows, state + (long)r0 * stride + 2 + d, stride, corr[r0..]);
            }
            for (; r0 < group; r0++)
            {
                float* p = s + (long)r0 * rowsPad, acc = state + (long)r0 * stride + 2;
                for (int d = 0; d < dv; d += 8)
                {
                    var a = Vector256.Load(acc + d) * Vector256.Create(corr[r0]);
                    for (int j = 0; j < rows; j++)
                        a = Vector256.FusedMultiplyAdd(Vector256.Create(p[j]), Vector256.Load((float*)v + (long)j * vs + d), a);
                    a.Store(acc + d);
                }
            }
            return;
        }
        for (; r0 + 4 <= group; r0 += 4)
        {
            for (int d = 0; d < dv; d += 4 * Lanes)
            {
                if (d + 4 * Lanes <= dv)
                    Accumulate4x4<FloatRows>(s + (long)r0 * rowsPad, rowsPad, v, 4 * vs, null, 0, d, rows, state + (long)r0 * stride + 2 + d, stride, corr[r0..]);
                else
                {
                    for (int c = d; c < dv; c += Lanes)
                    {
                        for (int r = r0; r < r0 + 4; r++)
                            Accumulate1<FloatRows>(s + (long)r * rowsPad, v, 4 * vs, null, 0, c, rows, state + (long)r * stride + 2 + c, corr[r]);
                    }
                }
            }
        }
        for (; r0 < group; r0++)
        {
            for (int c = 0; c < dv; c += Lanes)
                Accumulate1<FloatRows>(s + (long)r0 * rowsPad, v, 4 * vs, null, 0, c, rows, state + (long)r0 * stride + 2 + c, corr[r0]);
        }
    }

    /// <summary>
    /// <see cref="Fold"/> with the keys given transposed (kT: dk rows of <paramref name="kStride"/> floats, key j in
    /// column j), as a prefill tile uses them: each query row's scores for 32 keys are FMAs of a broadcast query
    /// element against a row of kT, with no reduction tree, four query rows per pass. Columns up to the next multiple
    /// of 16 past <paramref name="rows"/> are read, not used.
    /// </summary>
    public static unsafe void FoldTransposed(float* q, int group, int dk, int dv, float* kT, int kStride, float* v, int vs, int rows, float scale,
        ReadOnlySpan<byte> mask, int maskBase, float* s, float* state, int stride)
    {
        int rowsPad = RoundUp(rows), r0 = 0;
        if (!Avx512F.IsSupported)
        {
            for (; r0 + 4 <= group; r0 += 4)
                ScoresTransposed4x16(q + (long)r0 * dk, dk, kT, kStride, rowsPad, scale, s + (long)r0 * rowsPad, rowsPad);
            for (; r0 < group; r0++)
            {
                for (int j = 0; j < rowsPad; j += 8)
                {
                    var a = Vector256<float>.Zero;
                    for (int d = 0; d < dk; d++)
                        a = Vector256.FusedMultiplyAdd(Vector256.Create(q[(long)r0 * dk + d]), Vector256.Load(kT + (long)d * kStride + j), a);
                    (a * Vector256.Create(scale)).Store(s + (long)r0 * rowsPad + j);
                }
            }
        }
        else
        {
            for (; r0 + 4 <= group; r0 += 4)
                ScoresTransposed4(q + (long)r0 * dk, dk, kT, kStride, rowsPad, scale, s + (long)r0 * rowsPad, rowsPad);
            for (; r0 < group; r0++)
            {
                for (int j = 0; j < rowsPad; j += Lanes)
                {
                    var a = Vector512<float>.Zero;
                    for (int d = 0; d < dk; d++)
                        a = Vector512.FusedMultiplyAdd(Vector512.Create(q[(long)r0 * dk + d]), Vector512.Load(kT + (long)d * kStride + j), a);
                    (a * Vector512.Create(scale)).Store(s + (long)r0 * rowsPad + j);
                }
            }
        }
        Span<float> corr = stackalloc float[group];
        if (!Normalize(group, rows, mask, maskBase, s, state, stride, corr, null, 0))
            return;
        Accumulate(group, dv, s, rowsPad, (byte*)v, vs, rows, state, stride, corr);
    }

    // ScoresTransposed4 on AVX2: four query rows × 16 columns per pass (eight accumulators); cols a multiple of 16.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ScoresTransposed4x16(float* q, int dk, float* kT, int kStride, int cols, float scale, float* s, int sStride)
    {
        var vs = Vector256.Create(scale);
        for (int j = 0; j < cols; j += Lanes)
        {
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            float* k = kT + j;
            for (int d = 0; d < dk; d++, k += kStride)
            {
                var k0 = Vector256.Load(k);
                var k1 = Vector256.Load(k + 8);
                var w = Vector256.Create(q[d]);
                a00 = Vector256.FusedMultiplyAdd(w, k0, a00);
                a01 = Vector256.FusedMultiplyAdd(w, k1, a01);
                w = Vector256.Create(q[dk + d]);
                a10 = Vector256.FusedMultiplyAdd(w, k0, a10);
                a11 = Vector256.FusedMultiplyAdd(w, k1, a11);
                w = Vector256.Create(q[2 * dk + d]);
                a20 = Vector256.FusedMultiplyAdd(w, k0, a20);
                a21 = Vector256.FusedMultiplyAdd(w, k1, a21);
                w = Vector256.Create(q[3 * dk + d]);
                a30 = Vector256.FusedMultiplyAdd(w, k0, a30);
                a31 = Vector256.FusedMultiplyAdd(w, k1, a31);
            }
            (a00 * vs).Store(s + j);
            (a01 * vs).Store(s + j + 8);
            (a10 * vs).Store(s + sStride + j);
            (a11 * vs).Store(s + sStride + j + 8);
            (a20 * vs).Store(s + 2 * sStride + j);
            (a21 * vs).Store(s + 2 * sStride + j + 8);
            (a30 * vs).Store(s + 3 * sStride + j);
            (a31 * vs).Store(s + 3 * sStride + j + 8);
        }
    }

    // Four query rows × keys [0, cols) of kT, 32 (then 16) columns per pass: 8 accumulators, each kT row loaded once for the four.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ScoresTransposed4(float* q, int dk, float* kT, int kStride, int cols, float scale, float* s, int sStride)
    {
        var vs = Vector512.Create(scale);
        int j = 0;
        for (; j + 2 * Lanes <= cols; j += 2 * Lanes)
        {
            Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            float* k = kT + j;
            for (int d = 0; d < dk; d++, k += kStride)
            {
                var k0 = Vector512.Load(k);
                var k1 = Vector512.Load(k + Lanes);
                var w = Vector512.Create(q[d]);
                a00 = Vector512.FusedMultiplyAdd(w, k0, a00);
                a01 = Vector512.FusedMultiplyAdd(w, k1, a01);
                w = Vector512.Create(q[dk + d]);
                a10 = Vector512.FusedMultiplyAdd(w, k0, a10);
                a11 = Vector512.FusedMultiplyAdd(w, k1, a11);
                w = Vector512.Create(q[2 * dk + d]);
                a20 = Vector512.FusedMultiplyAdd(w, k0, a20);
                a21 = Vector512.FusedMultiplyAdd(w, k1, a21);
                w = Vector512.Create(q[3 * dk + d]);
                a30 = Vector512.FusedMultiplyAdd(w, k0, a30);
                a31 = Vector512.FusedMultiplyAdd(w, k1, a31);
            }
            (a00 * vs).Store(s + j);
            (a01 * vs).Store(s + j + Lanes);
            (a10 * vs).Store(s + sStride + j);
            (a11 * vs).Store(s + sStride + j + Lanes);
            (a20 * vs).Store(s + 2 * sStride + j);
            (a21 * vs).Store(s + 2 * sStride + j + Lanes);
            (a30 * vs).Store(s + 3 * sStride + j);
            (a31 * vs).Store(s + 3 * sStride + j + Lanes);
        }
        for (; j < cols; j += Lanes)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            float* k = kT + j;
            for (int d = 0; d < dk; d++, k += kStride)
            {
                var k0 = Vector512.Load(k);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(q[d]), k0, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Create(q[dk + d]), k0, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Create(q[2 * dk + d]), k0, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Create(q[3 * dk + d]), k0, a3);
            }
            (a0 * vs).Store(s + j);
            (a1 * vs).Store(s + sStride + j);
            (a2 * vs).Store(s + 2 * sStride + j);
            (a3 * vs).Store(s + 3 * sStride + j);
        }
    }

    /// <summary>
    /// Whether <see cref="FoldPage"/> reads pages of these element types for this shape in registers: f16 or q8_0 keys
    /// and values (q8_0 rows of whole blocks, at most 16 of them), pages of whole 4-row blocks, key and value lengths
    /// that are multiples of 16, and AVX-512 or AVX2 with FMA.
    /// </summary>
    public static bool SupportsInRegisters(AttentionShape shape, int pageSize, KvType keys, KvType values) =>
        HasKernels(shape) && pageSize % 4 == 0 && InRegisters(keys, shape.KeyLength) && InRegisters(values, shape.ValueLength);

    private static bool InRegisters(KvType type, int width) =>
        type == KvType.F16 || (type == KvType.Q8_0 && width % 32 == 0 && 16 % (width / 32) == 0);

    /// <summary>Floats of scale scratch <see cref="FoldPage"/> needs for pages of <paramref name="pageSize"/> rows.</summary>
    public static int ScaleFloats(int pageSize, int dk, int dv) => RoundUp(pageSize) * (dk / 32 + dv / 32) + 2 * Lanes;

    /// <summary>
    /// <see cref="Fold"/> reading keys and values straight from the page, widened in registers: rows of f16, or of
    /// q8_0 blocks (each block's scale widened once per page into <paramref name="scales"/>, its 32 bytes widened and
    /// scaled as they are used, the same floats as <see cref="KvTypes.DecodeRows"/> gives). Four keys × four query
    /// heads per pass for the scores, and each value vector widened once for four query heads. k and v step
    /// <paramref name="ks"/> and <paramref name="vs"/> bytes per row. Rows up to the next multiple of four are read,
    /// not used. q holds <see cref="PadGroup"/> rows, those past the group zero: a group that is not a multiple of four
    /// computes its last block with ghost heads whose weights are dropped. With <paramref name="nextK"/>, the rows of
    /// the fold that comes next (<paramref name="nextRows"/> of them, same strides) are prefetched along the way.
    /// </summary>
    /// <param name="finite">Every half in the layer is finite (<see cref="KvCache.KvSequence.MayHoldNonFinite"/> is false): the
    /// f16 widening can skip its inf/NaN step, three of its seven operations.</param>
    public static unsafe void FoldPage(KvType keys, KvType values, bool finite, float* q, int group, int dk, int dv, byte* k, int ks, byte* v, int vs,
        int rows, float scale, ReadOnlySpan<byte> mask, int maskBase, float* s, float* state, int stride, float* scales,
        byte* nextK = null, byte* nextV = null, int nextRows = 0, float* raw = null, int rawStride = 0)
    {
        var f = new PageFold(q, group, dk, dv, k, ks, v, vs, rows, scale, maskBase, s, state, stride, scales, nextK, nextV, nextRows, raw, rawStride);
        // f16 keys are widened without their 2^112 rebias, which the query takes instead, unless a query element is
        // so large (|x| ≥ 2^15) that x·2^112 would overflow.
        bool rawKeys = keys != KvType.Q8_0 && MaxAbs(q, PadGroup(group) * dk) < RawQueryLimit;
        if (keys == KvType.Q8_0)
            WithKeys<Q8Rows>(values, finite, ref f, mask);
        else if (rawKeys)
        {
            if (finite)
                WithKeys<FiniteRawHalves>(values, finite, ref f, mask);
            else
                WithKeys<RawHalves>(values, finite, ref f, mask);
        }
        else if (finite)
            WithKeys<FiniteHalves>(values, finite, ref f, mask);
        else
            WithKeys<AnyHalves>(values, finite, ref f, mask);
    }

    // Below this, x·2^112 is finite (2^15·2^112 = 2^127).
    private const float RawQueryLimit = 32768f;

    // The largest |x| (n a multiple of 16). Whatever it makes of a NaN or an infinity is safe: those give NaN or inf
    // products on either path.
    private static unsafe float MaxAbs(float* x, int n)
    {
        var m = Vector256<float>.Zero;
        for (int i = 0; i < n; i += 8)
            m = Vector256.Max(m, Vector256.Abs(Vector256.Load(x + i)));
        return Max(m);
    }

    /// <summary>
    /// <see cref="FoldPage"/> over keys and values already widened to float rows (k: dk floats apart, v: dv apart), for
    /// element types it does not read in registers. q holds <see cref="PadGroup"/> rows, those past the group zero; the
    /// buffers behind k and v hold whole 4-row blocks (rows past <paramref name="rows"/> are read, not used).
    /// </summary>
    public static unsafe void FoldWidened(float* q, int group, int dk, int dv, float* k, float* v, int rows, float scale, ReadOnlySpan<byte> mask,
        int maskBase, float* s, float* state, int stride, float* raw = null, int rawStride = 0)
    {
        var f = new PageFold(q, group, dk, dv, (byte*)k, 4 * dk, (byte*)v, 4 * dv, rows, scale, maskBase, s, state, stride, null, null, null, 0, raw, rawStride);
        FoldRows<FloatRows, FloatRows>(ref f, mask);
    }

    // One FoldPage call's arguments, passed down the two generic dispatch levels by reference.
    private unsafe ref struct PageFold(float* q, int group, int dk, int dv, byte* k, int ks, byte* v, int vs, int rows, float scale,
        int maskBase, float* s, float* state, int stride, float* scales, byte* nextK, byte* nextV, int nextRows, float* raw, int rawStride)
    {
        public float* Q = q, S = s, State = state, Scales = scales, Raw = raw;
        public byte* K = k, V = v, NextK = nextK, NextV = nextV;
        public int Group = group, Dk = dk, Dv = dv, Ks = ks, Vs = vs, Rows = rows, MaskBase = maskBase, Stride = stride, NextRows = nextRows,
            RawStride = rawStride;
        public float Scale = scale;
    }

    private static void WithKeys<TK>(KvType values, bool finite, ref PageFold f, ReadOnlySpan<byte> mask) where TK : struct, IRows
    {
        // f16 values are widened without their 2^112 rebias, which the probabilities (at most 1) take instead.
        if (values == KvType.Q8_0)
            FoldRows<TK, Q8Rows>(ref f, mask);
        else if (finite)
            FoldRows<TK, FiniteRawHalves>(ref f, mask);
        else
            FoldRows<TK, RawHalves>(ref f, mask);
    }

    // How a row of keys or values is read as floats: the scoring and accumulating loops are generic over it.
    private interface IRows
    {
        /// <summary>Per-block scales precede the elements (a row of width w has w / 32 of them).</summary>
        static virtual bool Blocked => false;

        /// <summary>Bytes of a row of <paramref name="width"/> elements (halves unless a type says otherwise).</summary>
        static virtual int RowBytes(int width) => 2 * width;

        /// <summary>
        /// The factor the floats <see cref="Load16"/> gives are short of (1 for exact ones): the other operand of their
        /// products carries it, so each product is the exact one.
        /// </summary>
        static virtual float Unit => 1f;

        /// <summary>Elements c..c+15 of the row at <paramref name="row"/>, whose block scales are at <paramref name="scales"/>.</summary>
        static abstract unsafe Vector512<float> Load16(byte* row, int c, float* scales);

        /// <summary>Elements c..c+7, as <see cref="Load16"/> gives them (AVX2).</summary>
        static abstract unsafe Vector256<float> Load8(byte* row, int c, float* scales);
    }

    private readonly struct FloatRows : IRows
    {
        public static int RowBytes(int width) => 4 * width;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load16(byte* row, int c, float* scales) => Vector512.Load((float*)row + c);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<float> Load8(byte* row, int c, float* scales) => Vector256.Load((float*)row + c);
    }

    private readonly struct AnyHalves : IRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load16(byte* row, int c, float* scales) => F16.Widen16(Vector256.Load((short*)row + c));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<float> Load8(byte* row, int c, float* scales) => F16.Widen8(Vector128.Load((short*)row + c));
    }

    private readonly struct FiniteHalves : IRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load16(byte* row, int c, float* scales) => F16.Widen16Finite(Vector256.Load((short*)row + c));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<float> Load8(byte* row, int c, float* scales) =>
            F16.Widen8FiniteRaw(Vector128.Load((short*)row + c)) * Vector256.Create(F16.RawUnit);
    }

    // Halves read 2^112 too small (three operations instead of four): the other operand takes the 2^112.
    private readonly struct RawHalves : IRows
    {
        public static float Unit => F16.RawUnit;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load16(byte* row, int c, float* scales) => F16.Widen16Raw(Vector256.Load((short*)row + c));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<float> Load8(byte* row, int c, float* scales) => F16.Widen8Raw(Vector128.Load((short*)row + c));
    }

    private readonly struct FiniteRawHalves : IRows
    {
        public static float Unit => F16.RawUnit;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load16(byte* row, int c, float* scales) => F16.Widen16FiniteRaw(Vector256.Load((short*)row + c));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<float> Load8(byte* row, int c, float* scales) => F16.Widen8FiniteRaw(Vector128.Load((short*)row + c));
    }

    // q8_0 blocks: an f16 scale, then 32 signed bytes. Element c is byte c % 32 of block c / 32; value = q·d.
    private readonly struct Q8Rows : IRows
    {
        public static bool Blocked => true;

        public static int RowBytes(int width) => width / 32 * 34;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load16(byte* row, int c, float* scales)
        {
            var x = Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)(row + (c >> 5) * 34 + 2 + (c & 31))));
            return Avx512F.ConvertToVector512Single(x) * Vector512.Create(scales[c >> 5]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<float> Load8(byte* row, int c, float* scales)
        {
            var x = Avx2.ConvertToVector256Int32((sbyte*)(row + (c >> 5) * 34 + 2 + (c & 31)));
            return Avx.ConvertToVector256Single(x) * Vector256.Create(scales[c >> 5]);
        }
    }

    [SkipLocalsInit]
    private static unsafe void FoldRows<TK, TV>(ref PageFold f, ReadOnlySpan<byte> mask)
        where TK : struct, IRows
        where TV : struct, IRows
    {
        int group = f.Group, dk = f.Dk, dv = f.Dv, rows = f.Rows, stride = f.Stride;
        int rowsPad = RoundUp(rows), gPad = PadGroup(group), rows4 = (rows + 3) & ~3, nbk = dk / 32, nbv = dv / 32;
        float* s = f.S, state = f.State, kSc = f.Scales, vSc = f.Scales + RoundUp(rows4 * nbk);
        if (TK.Blocked)
            WidenScales(f.K, f.Ks, rows4, nbk, kSc);
        if (TV.Blocked)
            WidenScales(f.V, f.Vs, rows4, nbv, vSc);
        int kBytes = TK.RowBytes(dk), vBytes = TV.RowBytes(dv);
        // The keys' missing factor goes on the query, once per fold.
        float* q = f.Q;
        float* qUnit = stackalloc float[TK.Unit != 1f ? gPad * dk : 0];
        if (TK.Unit != 1f)
        {
            for (int i = 0; i < gPad * dk; i += 8)
                (Vector256.Load(q + i) * Vector256.Create(TK.Unit)).Store(qUnit + i);
            q = qUnit;
        }
        for (int r0 = 0; r0 < gPad; r0 += 4)
        {
            // The next fold's key and value rows are asked for along the first block's scoring, four rows per pass:
            // quest's pages are scattered, and the hardware prefetchers do not see the jump to them. (There and not in
            // the P·V loop, whose accumulators the JIT would spill around the branch.)
            int ahead = r0 == 0 && f.NextK != null ? f.NextRows : 0;
            if (Avx512F.IsSupported)
                Scores4x4<TK>(q + (long)r0 * dk, dk, f.K, f.Ks, kSc, nbk, f.Scale, s + (long)r0 * rowsPad, rowsPad, rows,
                    f.NextK, f.NextV, f.Vs, ahead, kBytes, vBytes);
            else
                Scores2x4<TK>(q + (long)r0 * dk, dk, f.K, f.Ks, kSc, nbk, f.Scale, s + (long)r0 * rowsPad, rowsPad, rows,
                    f.NextK, f.NextV, f.Vs, ahead, kBytes, vBytes);
        }

        Span<float> corr = stackalloc float[gPad];
        corr.Fill(1f);
        if (!Normalize(group, rows, mask, f.MaskBase, s, state, stride, corr, f.Raw, f.RawStride, TV.Unit))
            return;
        if (gPad != group)
            new Span<float>(s + (long)group * rowsPad, (gPad - group) * rowsPad).Clear();
        // The ghost heads of a last partial block accumulate into a scratch block, not into the next head's state.
        Span<float> ghost = gPad != group ? stackalloc float[4 * stride] : default;
        ghost.Clear();
        for (int r0 = 0; r0 < gPad; r0 += 4)
        {
            int real = Math.Min(4, group - r0);
            fixed (float* gp = ghost)
            {
                float* acc = real == 4 ? state + (long)r0 * stride : gp;
                if (real < 4)
                    new Span<float>(state + (long)r0 * stride, real * stride).CopyTo(ghost);
                int d = 0;
                if (Avx512F.IsSupported)
                {
                    for (; d + 4 * Lanes <= dv; d += 4 * Lanes)
                        Accumulate4x4<TV>(s + (long)r0 * rowsPad, rowsPad, f.V, f.Vs, vSc, nbv, d, rows, acc + 2 + d, stride, corr[r0..]);
                    for (; d < dv; d += Lanes)
                        Accumulate4x1<TV>(s + (long)r0 * rowsPad, rowsPad, f.V, f.Vs, vSc, nbv, d, rows, acc + 2 + d, stride, corr[r0..]);
                }
                else
                {
                    // Four heads × 16 floats (eight accumulators) per pass: each value vector is still widened once.
                    for (; d < dv; d += Lanes)
                        Accumulate4x16<TV>(s + (long)r0 * rowsPad, rowsPad, f.V, f.Vs, vSc, nbv, d, rows, acc + 2 + d, stride, corr[r0..]);
                }
                if (real < 4)
                    ghost[..(real * stride)].CopyTo(new Span<float>(state + (long)r0 * stride, real * stride));
            }
        }
    }

    // The f16 scales of rows × nb q8_0 blocks (row j's block b at rows + j·stride + 34·b) as floats, row-major, eight
    // gathered per step; nb is a power of two. Writes up to the next multiple of 16; reads only inside the rows.
    private static unsafe void WidenScales(byte* rows, int stride, int count, int nb, float* dst)
    {
        int n = count * nb, shift = System.Numerics.BitOperations.Log2((uint)nb);
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var last = Vector256.Create(n - 1);
        var rowStep = Vector256.Create(stride);
        var blockMask = Vector256.Create(nb - 1);
        if (!Avx512F.IsSupported)
        {
            for (int i = 0; i < n; i += 8)
            {
                var e = Vector256.Min(lane + Vector256.Create(i), last);
                var o = (e >>> shift) * rowStep + (e & blockMask) * 34;
                // Each lane reads the scale's two bytes and the block's first two; the mask keeps the scale.
                F16.ToFloat(Avx2.GatherVector256((int*)rows, o, 1).AsUInt32() & Vector256.Create(0xFFFFu)).Store(dst + i);
            }
            return;
        }
        for (int i = 0; i < n; i += Lanes)
        {
            var e0 = Vector256.Min(lane + Vector256.Create(i), last);
            var e1 = Vector256.Min(lane + Vector256.Create(i + 8), last);
            var o0 = (e0 >>> shift) * rowStep + (e0 & blockMask) * 34;
            var o1 = (e1 >>> shift) * rowStep + (e1 & blockMask) * 34;
            // Each lane reads the scale's two bytes and the block's first two; the narrowing keeps the scale.
            var both = Vector512.Create(Avx2.GatherVector256((int*)rows, o0, 1), Avx2.GatherVector256((int*)rows, o1, 1));
            F16.Widen16(Avx512F.ConvertToVector256Int16(both)).Store(dst + i);
        }
    }

    /// <summary>Asks for the lines of <paramref name="bytes"/> bytes from <paramref name="start"/> (a hint: never faults, may be dropped).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void PrefetchLines(byte* start, long bytes)
    {
        for (byte* a = start, b = start + bytes; a < b; a += 64)
            Sse.Prefetch0(a);
    }

    // Asks for rows [from, to) of rowBytes bytes each, stride bytes apart (a hint: never faults, may be dropped).
    // Inlined: a call inside the accumulating loops would make the JIT spill every accumulator around it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchRows(byte* rows, int stride, int from, int to, int rowBytes)
    {
        if (stride == rowBytes)
        {
            // Rows side by side (one KV head's run of a head-major page): one line after another.
            PrefetchLines(rows + (long)from * rowBytes, (long)(to - from) * rowBytes);
            return;
        }
        for (int j = from; j < to; j++)
        {
            byte* r = rows + (long)j * stride;
            for (int b = 0; b < rowBytes; b += 64)
                Sse.Prefetch0(r + b);
            Sse.Prefetch0(r + rowBytes - 1);
        }
    }

    // The scoring loops' share of the next fold: its key rows (ks bytes apart) and value rows (vs apart) j..j+3, those
    // below ahead.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchNext(byte* nk, int ks, int kBytes, byte* nv, int vs, int vBytes, int j, int ahead)
    {
        if (j >= ahead)
            return;
        int to = Math.Min(j + 4, ahead);
        PrefetchRows(nk, ks, j, to, kBytes);
        PrefetchRows(nv, vs, j, to, vBytes);
    }

    // Scores (rows of s, rowsPad apart) → probabilities against each head's running max, folded into (m, l); corr[r]
    // is what the head's accumulator must be scaled by. Returns false when no head saw a key. With raw, each head's
    // scaled scores (−inf where masked) are also kept at raw + r·rawStride + maskBase, for the weights a policy reads.
    private static unsafe bool Normalize(int group, int rows, ReadOnlySpan<byte> mask, int maskBase, float* s, float* state, int stride, Span<float> corr,
        float* raw, int rawStride, float unit = 1f)
    {
        int rowsPad = RoundUp(rows);
        bool any = false;
        for (int r = 0; r < group; r++)
        {
            float* sr = s + (long)r * rowsPad;
            for (int j = rows; j < rowsPad; j++)
                sr[j] = float.NegativeInfinity;
            if (!mask.IsEmpty)
            {
                for (int j = 0; j < rows && maskBase + j < mask.Length; j++)
                {
                    if (mask[maskBase + j] == 0)
                        sr[j] = float.NegativeInfinity;
                }
            }
            if (raw != null)
                new Span<float>(sr, rows).CopyTo(new Span<float>(raw + (long)r * rawStride + maskBase, rows));
            float mx = MaxOf(sr, rowsPad);
            float* st = state + (long)r * stride;
            if (float.IsNegativeInfinity(mx) && new ReadOnlySpan<float>(sr, rows).ContainsAnyExcept(float.NegativeInfinity))
                mx = float.NaN;
            if (float.IsNegativeInfinity(mx))
            {
                // Nothing visible for this head: its probabilities are 0 and its state stays.
                new Span<float>(sr, rowsPad).Clear();
                corr[r] = 1f;
                continue;
            }
            any = true;
            float m = st[0], mNew = MathF.Max(m, mx);
            // exp(0) = 1 exactly: once the running max has settled, most pages leave it and need no exp.
            corr[r] = float.IsNegativeInfinity(m) ? 0f : m == mNew ? 1f : MathF.Exp(m - mNew);
            st[0] = mNew;
            st[1] = st[1] * corr[r] + ExpSum(sr, rowsPad, mNew, unit);
        }
        return any;
    }

    // Four query rows (dk floats apart) × keys [0, rows) (ks bytes apart, block scales nb floats apart from sc), four keys
    // per pass: slot i holds key i >> 2 and row i & 3, which Reduce16 puts in lane 4·row + key, so each row's four scores
    // are one 128-bit store. Each pass first asks for its four rows of the next fold's keys (nk, ks apart) and values
    // (nv, vs apart) while they are below ahead. One call per page: per four keys, a call's frame and its 16 zeroed
    // accumulators cost about 3 % of the fold.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Scores4x4<TW>(float* q, int dk, byte* k, int ks, float* sc, int nb, float scale, float* dst, int dstStride, int rows,
        byte* nk, byte* nv, int vs, int ahead, int kBytes, int vBytes)
        where TW : struct, IRows
    {
        var sv = Vector512.Create(scale);
        for (int j = 0; j < rows; j += 4)
        {
            PrefetchNext(nk, ks, kBytes, nv, vs, vBytes, j, ahead);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            Vector512<float> a8 = default, a9 = default, a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
            byte* k0 = k + (long)j * ks, k1 = k0 + ks, k2 = k1 + ks, k3 = k2 + ks;
            float* s0 = sc + j * nb, s1 = s0 + nb, s2 = s1 + nb, s3 = s2 + nb;
            for (int c = 0; c < dk; c += Lanes)
            {
                var q0 = Vector512.Load(q + c);
                var q1 = Vector512.Load(q + dk + c);
                var q2 = Vector512.Load(q + 2 * dk + c);
                var q3 = Vector512.Load(q + 3 * dk + c);
                var x = TW.Load16(k0, c, s0);
                a0 = Vector512.FusedMultiplyAdd(q0, x, a0);
                a1 = Vector512.FusedMultiplyAdd(q1, x, a1);
                a2 = Vector512.FusedMultiplyAdd(q2, x, a2);
                a3 = Vector512.FusedMultiplyAdd(q3, x, a3);
                x = TW.Load16(k1, c, s1);
                a4 = Vector512.FusedMultiplyAdd(q0, x, a4);
                a5 = Vector512.FusedMultiplyAdd(q1, x, a5);
                a6 = Vector512.FusedMultiplyAdd(q2, x, a6);
                a7 = Vector512.FusedMultiplyAdd(q3, x, a7);
                x = TW.Load16(k2, c, s2);
                a8 = Vector512.FusedMultiplyAdd(q0, x, a8);
                a9 = Vector512.FusedMultiplyAdd(q1, x, a9);
                a10 = Vector512.FusedMultiplyAdd(q2, x, a10);
                a11 = Vector512.FusedMultiplyAdd(q3, x, a11);
                x = TW.Load16(k3, c, s3);
                a12 = Vector512.FusedMultiplyAdd(q0, x, a12);
                a13 = Vector512.FusedMultiplyAdd(q1, x, a13);
                a14 = Vector512.FusedMultiplyAdd(q2, x, a14);
                a15 = Vector512.FusedMultiplyAdd(q3, x, a15);
            }
            var sums = CausalAttention.Reduce16(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) * sv;
            float* d = dst + j;
            sums.GetLower().GetLower().Store(d);
            sums.GetLower().GetUpper().Store(d + dstStride);
            sums.GetUpper().GetLower().Store(d + 2 * dstStride);
            sums.GetUpper().GetUpper().Store(d + 3 * dstStride);
        }
    }

    // Four query rows × output floats d..d+15 (what is left of dv past its 64-float chunks): value row j at v + j·vs
    // bytes, its block scales at sc + j·nb.
    private static unsafe void Accumulate4x1<TR>(float* p, int pStride, byte* v, int vs, float* sc, int nb, int d, int rows, float* acc, int accStride,
        ReadOnlySpan<float> corr)
        where TR : struct, IRows
    {
        var a0 = Vector512.Load(acc) * Vector512.Create(corr[0]);
        var a1 = Vector512.Load(acc + accStride) * Vector512.Create(corr[1]);
        var a2 = Vector512.Load(acc + 2 * accStride) * Vector512.Create(corr[2]);
        var a3 = Vector512.Load(acc + 3 * accStride) * Vector512.Create(corr[3]);
        for (int j = 0; j < rows; j++)
        {
            var x = TR.Load16(v + (long)j * vs, d, sc + j * nb);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[j]), x, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(p[pStride + j]), x, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(p[2 * pStride + j]), x, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(p[3 * pStride + j]), x, a3);
        }
        a0.Store(acc);
        a1.Store(acc + accStride);
        a2.Store(acc + 2 * accStride);
        a3.Store(acc + 3 * accStride);
    }

    // Four query rows × output floats d..d+63: acc = acc·corr + Σj p[r][j]·v[j], each value vector read once for the
    // four rows (value row j at v + j·vs bytes, its block scales at sc + j·nb). The loop has no branch, so its 16
    // accumulators stay in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Accumulate4x4<TR>(float* p, int pStride, byte* v, int vs, float* sc, int nb, int d, int rows, float* acc, int accStride,
        ReadOnlySpan<float> corr)
        where TR : struct, IRows
    {
        float* a0p = acc, a1p = acc + accStride, a2p = acc + 2 * accStride, a3p = acc + 3 * accStride;
        var c0 = Vector512.Create(corr[0]);
        var c1 = Vector512.Create(corr[1]);
        var c2 = Vector512.Create(corr[2]);
        var c3 = Vector512.Create(corr[3]);
        Vector512<float> a00 = Vector512.Load(a0p) * c0, a01 = Vector512.Load(a0p + 16) * c0, a02 = Vector512.Load(a0p + 32) * c0, a03 = Vector512.Load(a0p + 48) * c0;
        Vector512<float> a10 = Vector512.Load(a1p) * c1, a11 = Vector512.Load(a1p + 16) * c1, a12 = Vector512.Load(a1p + 32) * c1, a13 = Vector512.Load(a1p + 48) * c1;
        Vector512<float> a20 = Vector512.Load(a2p) * c2, a21 = Vector512.Load(a2p + 16) * c2, a22 = Vector512.Load(a2p + 32) * c2, a23 = Vector512.Load(a2p + 48) * c2;
        Vector512<float> a30 = Vector512.Load(a3p) * c3, a31 = Vector512.Load(a3p + 16) * c3, a32 = Vector512.Load(a3p + 32) * c3, a33 = Vector512.Load(a3p + 48) * c3;
        float* p0 = p, p1 = p + pStride, p2 = p + 2 * pStride, p3 = p + 3 * pStride;
        for (int j = 0; j < rows; j++)
        {
            byte* vr = v + (long)j * vs;
            float* sr = sc + j * nb;
            var v0 = TR.Load16(vr, d, sr);
            var v1 = TR.Load16(vr, d + 16, sr);
            var v2 = TR.Load16(vr, d + 32, sr);
            var v3 = TR.Load16(vr, d + 48, sr);
            var w = Vector512.Create(p0[j]);
            a00 = Vector512.FusedMultiplyAdd(w, v0, a00);
            a01 = Vector512.FusedMultiplyAdd(w, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(w, v2, a02);
            a03 = Vector512.FusedMultiplyAdd(w, v3, a03);
            w = Vector512.Create(p1[j]);
            a10 = Vector512.FusedMultiplyAdd(w, v0, a10);
            a11 = Vector512.FusedMultiplyAdd(w, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(w, v2, a12);
            a13 = Vector512.FusedMultiplyAdd(w, v3, a13);
            w = Vector512.Create(p2[j]);
            a20 = Vector512.FusedMultiplyAdd(w, v0, a20);
            a21 = Vector512.FusedMultiplyAdd(w, v1, a21);
            a22 = Vector512.FusedMultiplyAdd(w, v2, a22);
            a23 = Vector512.FusedMultiplyAdd(w, v3, a23);
            w = Vector512.Create(p3[j]);
            a30 = Vector512.FusedMultiplyAdd(w, v0, a30);
            a31 = Vector512.FusedMultiplyAdd(w, v1, a31);
            a32 = Vector512.FusedMultiplyAdd(w, v2, a32);
            a33 = Vector512.FusedMultiplyAdd(w, v3, a33);
        }
        a00.Store(a0p); a01.Store(a0p + 16); a02.Store(a0p + 32); a03.Store(a0p + 48);
        a10.Store(a1p); a11.Store(a1p + 16); a12.Store(a1p + 32); a13.Store(a1p + 48);
        a20.Store(a2p); a21.Store(a2p + 16); a22.Store(a2p + 32); a23.Store(a2p + 48);
        a30.Store(a3p); a31.Store(a3p + 16); a32.Store(a3p + 32); a33.Store(a3p + 48);
    }

    // Scores4x4 for AVX2 (16 registers): two keys (ks bytes apart, block scales nb floats apart from sc) × four query
    // rows (dk floats apart) per pass, eight accumulators reduced together into [row 0 key 0, row 0 key 1, row 1 key 0,
    // …], each row's pair one 64-bit store (a key past rows, up to the next even count, is read and scored, not used).
    // Asks for the next fold's rows four at a time as Scores4x4 does.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Scores2x4<TW>(float* q, int dk, byte* k, int ks, float* sc, int nb, float scale, float* dst, int dstStride, int rows,
        byte* nk, byte* nv, int vs, int ahead, int kBytes, int vBytes)
        where TW : struct, IRows
    {
        var sv = Vector128.Create(scale);
        for (int j = 0; j < rows; j += 2)
        {
            if ((j & 3) == 0)
                PrefetchNext(nk, ks, kBytes, nv, vs, vBytes, j, ahead);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            byte* k0 = k + (long)j * ks, k1 = k0 + ks;
            float* s0 = sc + j * nb, s1 = s0 + nb;
            for (int c = 0; c < dk; c += 8)
            {
                var x = TW.Load8(k0, c, s0);
                var y = TW.Load8(k1, c, s1);
                var q0 = Vector256.Load(q + c);
                a0 = Vector256.FusedMultiplyAdd(q0, x, a0);
                b0 = Vector256.FusedMultiplyAdd(q0, y, b0);
                var q1 = Vector256.Load(q + dk + c);
                a1 = Vector256.FusedMultiplyAdd(q1, x, a1);
                b1 = Vector256.FusedMultiplyAdd(q1, y, b1);
                var q2 = Vector256.Load(q + 2 * dk + c);
                a2 = Vector256.FusedMultiplyAdd(q2, x, a2);
                b2 = Vector256.FusedMultiplyAdd(q2, y, b2);
                var q3 = Vector256.Load(q + 3 * dk + c);
                a3 = Vector256.FusedMultiplyAdd(q3, x, a3);
                b3 = Vector256.FusedMultiplyAdd(q3, y, b3);
            }
            // hadd(hadd(a0, b0), hadd(a1, b1)): per 128-bit half, [r0k0, r0k1, r1k0, r1k1] partial sums; the halves added.
            var u01 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, b0), Avx.HorizontalAdd(a1, b1));
            var u23 = Avx.HorizontalAdd(Avx.HorizontalAdd(a2, b2), Avx.HorizontalAdd(a3, b3));
            var lo = (u01.GetLower() + u01.GetUpper()) * sv;
            var hi = (u23.GetLower() + u23.GetUpper()) * sv;
            float* d = dst + j;
            *(double*)d = lo.AsDouble().ToScalar();
            *(double*)(d + dstStride) = lo.AsDouble().GetElement(1);
            *(double*)(d + 2 * dstStride) = hi.AsDouble().ToScalar();
            *(double*)(d + 3 * dstStride) = hi.AsDouble().GetElement(1);
        }
    }

    // Four query rows × output floats d..d+15, 8 lanes (AVX2): acc = acc·corr + Σj p[r][j]·v[j] with eight accumulators
    // in registers across the rows (value row j at v + j·vs bytes, its block scales at sc + j·nb).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Accumulate4x16<TR>(float* p, int pStride, byte* v, int vs, float* sc, int nb, int d, int rows, float* acc, int accStride,
        ReadOnlySpan<float> corr)
        where TR : struct, IRows
    {
        float* a0p = acc, a1p = acc + accStride, a2p = acc + 2 * accStride, a3p = acc + 3 * accStride;
        var c0 = Vector256.Create(corr[0]);
        var c1 = Vector256.Create(corr[1]);
        var c2 = Vector256.Create(corr[2]);
        var c3 = Vector256.Create(corr[3]);
        Vector256<float> a00 = Vector256.Load(a0p) * c0, a01 = Vector256.Load(a0p + 8) * c0;
        Vector256<float> a10 = Vector256.Load(a1p) * c1, a11 = Vector256.Load(a1p + 8) * c1;
        Vector256<float> a20 = Vector256.Load(a2p) * c2, a21 = Vector256.Load(a2p + 8) * c2;
        Vector256<float> a30 = Vector256.Load(a3p) * c3, a31 = Vector256.Load(a3p + 8) * c3;
        float* p0 = p, p1 = p + pStride, p2 = p + 2 * pStride, p3 = p + 3 * pStride;
        for (int j = 0; j < rows; j++)
        {
            byte* vr = v + (long)j * vs;
            float* sr = sc + j * nb;
            var v0 = TR.Load8(vr, d, sr);
            var v1 = TR.Load8(vr, d + 8, sr);
            var w = Vector256.Create(p0[j]);
            a00 = Vector256.FusedMultiplyAdd(w, v0, a00);
            a01 = Vector256.FusedMultiplyAdd(w, v1, a01);
            w = Vector256.Create(p1[j]);
            a10 = Vector256.FusedMultiplyAdd(w, v0, a10);
            a11 = Vector256.FusedMultiplyAdd(w, v1, a11);
            w = Vector256.Create(p2[j]);
            a20 = Vector256.FusedMultiplyAdd(w, v0, a20);
            a21 = Vector256.FusedMultiplyAdd(w, v1, a21);
            w = Vector256.Create(p3[j]);
            a30 = Vector256.FusedMultiplyAdd(w, v0, a30);
            a31 = Vector256.FusedMultiplyAdd(w, v1, a31);
        }
        a00.Store(a0p); a01.Store(a0p + 8);
        a10.Store(a1p); a11.Store(a1p + 8);
        a20.Store(a2p); a21.Store(a2p + 8);
        a30.Store(a3p); a31.Store(a3p + 8);
    }

    // The largest of x[0..n) (n a multiple of 16) by plain vmaxps, which may drop a NaN lane (Vector512.Max's NaN
    // rules cost two more operations a vector): a NaN score still reaches the output through its exp, and the one
    // case where it would not, a maximum of −inf, is checked by the caller.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float MaxOf(float* x, int n)
    {
        if (Avx512F.IsSupported)
        {
            var vmax = Vector512.Create(float.NegativeInfinity);
            for (int j = 0; j < n; j += Lanes)
                vmax = Avx512F.Max(vmax, Vector512.Load(x + j));
            return Max(Avx.Max(vmax.GetLower(), vmax.GetUpper()));
        }
        var m = Vector256.Create(float.NegativeInfinity);
        for (int j = 0; j < n; j += 8)
            m = Avx.Max(m, Vector256.Load(x + j));
        return Max(m);
    }

    // x[j] = exp(x[j] − m)·unit over x[0..n) (n a multiple of 16, exp below the floor 0); returns Σ exp(x[j] − m).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float ExpSum(float* x, int n, float m, float unit)
    {
        if (Avx512F.IsSupported)
        {
            var shift = Vector512.Create(m);
            var sum = Vector512<float>.Zero;
            for (int j = 0; j < n; j += Lanes)
            {
                var p = ExpOrZero(Vector512.Load(x + j) - shift);
                sum += p;
                (p * Vector512.Create(unit)).Store(x + j);
            }
            return Vector512.Sum(sum);
        }
        var shift8 = Vector256.Create(m);
        var floor = Vector256.Create(Floor);
        var sum8 = Vector256<float>.Zero;
        for (int j = 0; j < n; j += 8)
        {
            var y = Vector256.Load(x + j) - shift8;
            var p = Vector256.ConditionalSelect(Vector256.LessThan(y, floor), Vector256<float>.Zero, GgmlMath.ExpInRange(Avx.Max(floor, y)));
            sum8 += p;
            (p * Vector256.Create(unit)).Store(x + j);
        }
        return Vector256.Sum(sum8);
    }

    // The largest lane by plain maxps (NaN rules as MaxOf's).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Max(Vector256<float> v)
    {
        var q = Sse.Max(v.GetLower(), v.GetUpper());
        q = Sse.Max(q, Sse.MoveHighToLow(q, q));
        return Sse.MaxScalar(q, Sse.Shuffle(q, q, 1)).ToScalar();
    }

    // One query row × output floats d..d+15.
    private static unsafe void Accumulate1<TR>(float* p, byte* v, int vs, float* sc, int nb, int d, int rows, float* acc, float corr)
        where TR : struct, IRows
    {
        var a = Vector512.Load(acc) * Vector512.Create(corr);
        for (int j = 0; j < rows; j++)
            a = Vector512.FusedMultiplyAdd(Vector512.Create(p[j]), TR.Load16(v + (long)j * vs, d, sc + j * nb), a);
        a.Store(acc);
    }
}
