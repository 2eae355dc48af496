using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fathom.Attention;
using Fathom.KvCache;

namespace Fathom.KvPolicies;

/// <summary>
/// <c>quest</c>: keeps all KV. Per page of <c>page</c> positions and KV head it keeps the channel-wise min
/// and max of the page's keys; each decode step scores every page by the upper bound
/// U = Σ_i max(q_i·max_i, q_i·min_i) of q·k and reads only the top max(3, ⌈budget/page⌉) pages (the sink page
/// and the newest page always among them). The first <c>dense</c> layers (2 in the reference) read
/// everything. RoPE: bounds are over the rotated keys at their written positions; nothing is evicted, so
/// nothing is ever re-rotated. GQA: a page's score is the sum of the group's query heads' upper bounds, so
/// the group reads one page set (Fathom choice); that sum is computed as one bound of the group's summed
/// positive and negative query parts (max(q·M, q·m) = q⁺·M + q⁻·m), one 2d dot per page. On the session path the
/// bounds scored are the cache's 8-bit copies (one scale per page and head), minima rounded down and maxima up: still
/// bounds, at an eighth of the bytes of f32, one contiguous stream per KV head.
/// </summary>
internal sealed class QuestPolicy : KvPolicyBase
{
    private float[][] _min = [], _max = [];
    private int[] _folded = [];
    // Scoring scratch is per thread: one policy may serve KV heads scored on several threads at once.
    [ThreadStatic] private static float[]? t_pageScores;
    [ThreadStatic] private static uint[]? t_keys;
    [ThreadStatic] private static int[]? t_order;

    public QuestPolicy(int budget, int page = 16, int dense = 2)
    {
        CheckBudget(budget);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(page);
        ArgumentOutOfRangeException.ThrowIfNegative(dense);
        Budget = budget;
        Page = page;
        Dense = dense;
    }

    public int Budget { get; }
    public int Page { get; }
    public int Dense { get; }
    public override string Name => "quest";

    // Its reads path folds keys into the bounds through IKeyRows, whose row buffer is shared (the session path,
    // SelectPages, scores concurrently on its own).
    public override bool SelectsReadsConcurrently => false;
    public override string Parameters => $"budget={Budget} page={Page} dense-layers={Dense}";

    /// <summary>Pages a step reads in a sparse layer.</summary>
    public int PagesPerStep => Math.Max(3, (Budget + Page - 1) / Page);

    public override void Begin(KvPolicyGeometry geometry)
    {
        base.Begin(geometry);
        int heads = geometry.Layers * geometry.KvHeads, pages = (geometry.Context + Page - 1) / Page;
        // Bounds arrays are allocated on first use: the session path reads the cache's own page bounds instead.
        _min = new float[heads][];
        _max = new float[heads][];
        _folded = new int[heads];
    }

    public override void SelectReads(int layer, int kvHead, int position, ReadOnlySpan<float> queries, IKeyRows keys, KvResidency residency, List<int> reads)
    {
        ArgumentNullException.ThrowIfNull(residency);
        ArgumentNullException.ThrowIfNull(reads);
        ArgumentNullException.ThrowIfNull(keys);
        int n = residency.Length, pages = (n + Page - 1) / Page;
        if (layer < Dense || pages <= PagesPerStep)
        {
            residency.CopyTo(layer, kvHead, reads);
            return;
        }
        int hi = layer * Geometry.KvHeads + kvHead, d = Geometry.KeyLength;
        Fold(layer, kvHead, hi, n, keys);
        var mins = _min[hi];
        var maxs = _max[hi];
        var (scores, order) = Scratch(pages);
        Span<float> split = stackalloc float[2 * d];
        SplitSigns(queries, Geometry.Group, d, split);
        for (int pg = 0; pg < pages; pg++)
            scores[pg] = UpperBound(split, mins.AsSpan(pg * d, d), maxs.AsSpan(pg * d, d));
        // The sink page and the newest page first, then the rest by descending bound (ties: the older).
        scores[0] = float.PositiveInfinity;
        scores[pages - 1] = float.PositiveInfinity;
        SelectTop(scores, pages, PagesPerStep, order);
        for (int k = 0; k < PagesPerStep; k++)
        {
            int pg = order[k];
            for (int p = pg * Page; p < Math.Min(n, (pg + 1) * Page); p++)
            {
                if (residency.Contains(layer, kvHead, p))
                    reads.Add(p);
            }
        }
    }

    /// <summary>
    /// The session path: the same selection over the KV pages of <paramref name="sequence"/> (whose page size
    /// is <see cref="Page"/> and which tracks key bounds). Writes the ascending page indices to read and returns
    /// how many, or -1 to read all (a dense layer, or no more pages than a step reads).
    /// </summary>
    internal int SelectPages(KvSequence sequence, int layer, int kvHead, ReadOnlySpan<float> queries, Span<int> pages)
    {
        int count = sequence.PageCount(layer), k = PagesPerStep;
        if (layer < Dense || count <= k)
            return -1;
        int d = Geometry.KeyLength;
        var (scores, _) = Scratch(count);
        Span<float> split = stackalloc float[2 * d];
        SplitSigns(queries, Geometry.Group, d, split);
        var (packed, scales) = sequence.PackedKeyBounds(layer, kvHead);
        UpperBounds(split, packed.Span, scales.Span, count, d, scores);
        // The sink page and the newest page always; then the rest by descending bound (ties: the older).
        scores[0] = float.PositiveInfinity;
        scores[count - 1] = float.PositiveInfinity;
        SelectTop(scores, count, k, pages);
        return k;
    }

    // scores[pg] = scale[pg]·Σ_i (neg_i·qmin_i + pos_i·qmax_i) over one head's 8-bit page bounds (d minima then d maxima
    // per page: with split = [neg d | pos d], one 2d-long dot per page).
    private static unsafe void UpperBounds(ReadOnlySpan<float> split, ReadOnlySpan<sbyte> packed, ReadOnlySpan<float> scales, int pages, int d, float[] scores)
    {
        fixed (float* sp = split)
        fixed (sbyte* bp = packed)
        fixed (float* scl = scales)
        fixed (float* sc = scores)
        {
            int pg = 0;
            sbyte* end = bp + (long)pages * 2 * d;
            if (Sse.IsSupported)
            {
                DecodeStep.PrefetchLines((byte*)bp, Math.Min(BoundsAhead, end - bp));
                DecodeStep.PrefetchLines((byte*)scl, (long)pages * sizeof(float));
            }
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && d % 8 == 0)
            {
                // 16 pages per pass, their 16 dots reduced together; Reduce16 puts page i's sum in lane 4·(i & 3) + (i >> 2).
                var order = Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
                long stride = 2L * d;
                for (; pg + 16 <= pages; pg += 16)
                {
                    sbyte* b = bp + pg * stride;
                    PrefetchAhead(b, end, 16 * stride);
                    var sums = CausalAttention.Reduce16(PageDot(b, sp, d), PageDot(b + stride, sp, d), PageDot(b + 2 * stride, sp, d),
                        PageDot(b + 3 * stride, sp, d), PageDot(b + 4 * stride, sp, d), PageDot(b + 5 * stride, sp, d),
                        PageDot(b + 6 * stride, sp, d), PageDot(b + 7 * stride, sp, d), PageDot(b + 8 * stride, sp, d),
                        PageDot(b + 9 * stride, sp, d), PageDot(b + 10 * stride, sp, d), PageDot(b + 11 * stride, sp, d),
                        PageDot(b + 12 * stride, sp, d), PageDot(b + 13 * stride, sp, d), PageDot(b + 14 * stride, sp, d),
                        PageDot(b + 15 * stride, sp, d));
                    (Avx512F.PermuteVar16x32(sums, order) * Vector512.Load(scl + pg)).Store(sc + pg);
                }
                for (; pg < pages; pg++)
                    sc[pg] = Vector512.Sum(PageDot(bp + pg * stride, sp, d)) * scl[pg];
                return;
            }
            if (Avx2.IsSupported && Fma.IsSupported && d % 4 == 0)
            {
                // Four pages per pass, one accumulator each (four independent FMA chains), 8 bounds per step.
                long stride = 2L * d;
                for (; pg + 4 <= pages; pg += 4)
                {
                    sbyte* b = bp + pg * stride;
                    PrefetchAhead(b, end, 4 * stride);
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int i = 0; i < 2 * d; i += 8)
                    {
                        var q = Vector256.Load(sp + i);
                        a0 = Fma.MultiplyAdd(Widen8(b + i), q, a0);
                        a1 = Fma.MultiplyAdd(Widen8(b + stride + i), q, a1);
                        a2 = Fma.MultiplyAdd(Widen8(b + 2 * stride + i), q, a2);
                        a3 = Fma.MultiplyAdd(Widen8(b + 3 * stride + i), q, a3);
                    }
                    sc[pg] = Vector256.Sum(a0) * scl[pg];
                    sc[pg + 1] = Vector256.Sum(a1) * scl[pg + 1];
                    sc[pg + 2] = Vector256.Sum(a2) * scl[pg + 2];
                    sc[pg + 3] = Vector256.Sum(a3) * scl[pg + 3];
                }
                for (; pg < pages; pg++)
                {
                    sbyte* b = bp + pg * stride;
                    var acc = Vector256<float>.Zero;
                    for (int i = 0; i < 2 * d; i += 8)
                        acc = Fma.MultiplyAdd(Widen8(b + i), Vector256.Load(sp + i), acc);
                    sc[pg] = Vector256.Sum(acc) * scl[pg];
                }
                return;
            }
            for (; pg < pages; pg++)
            {
                sbyte* b = bp + (long)pg * 2 * d;
                float u = 0;
                for (int i = 0; i < 2 * d; i++)
                    u += sp[i] * b[i];
                sc[pg] = u * scl[pg];
            }
        }
    }

    // A head's bounds are read in order, but from memory every step (the weights streamed since have evicted them), and
    // the hardware prefetchers ramp up on such a run slowly: each pass asks for the lines this far ahead of it.
    private const long BoundsAhead = 4096;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchAhead(sbyte* b, sbyte* end, long bytes)
    {
        sbyte* a = b + BoundsAhead;
        if (Sse.IsSupported && a < end)
            DecodeStep.PrefetchLines((byte*)a, Math.Min(bytes, end - a));
    }

    // One page's 2d 8-bit bounds against the query parts, 16 lanes wide (summed and scaled by the caller); a d that is
    // a multiple of 8 leaves 2d a multiple of 16.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> PageDot(sbyte* b, float* split, int d)
    {
        var acc = Vector512<float>.Zero;
        for (int i = 0; i < 2 * d; i += 16)
        {
            var x = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(b + i)));
            acc = Vector512.FusedMultiplyAdd(x, Vector512.Load(split + i), acc);
        }
        return acc;
    }

    // Eight 8-bit bounds as floats (sign-extended, converted).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Widen8(sbyte* b) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(b));

    // max(q·max, q·min) = q⁺·max + q⁻·min, so the group's sum of bounds is one bound of the summed positive and
    // negative parts: split = [Σ_h q⁻ (d), Σ_h q⁺ (d)], and scoring a page costs one 2d dot whatever the group size.
    private static void SplitSigns(ReadOnlySpan<float> queries, int group, int d, Span<float> split)
    {
        split.Clear();
        for (int h = 0; h < group; h++)
        {
            var q = queries.Slice(h * d, d);
            for (int i = 0; i < d; i++)
            {
                float x = q[i];
                if (x < 0)
                    split[i] += x;
                else
                    split[d + i] += x;
            }
        }
    }

    // Σ_i neg_i·min_i + pos_i·max_i.
    private static float UpperBound(ReadOnlySpan<float> split, ReadOnlySpan<float> mins, ReadOnlySpan<float> maxs)
    {
        int d = mins.Length, i = 0;
        var neg = split[..d];
        var pos = split.Slice(d, d);
        float u = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var acc = Vector<float>.Zero;
            for (; i + Vector<float>.Count <= d; i += Vector<float>.Count)
                acc += new Vector<float>(neg[i..]) * new Vector<float>(mins[i..]) + new Vector<float>(pos[i..]) * new Vector<float>(maxs[i..]);
            u = Vector.Sum(acc);
        }
        for (; i < d; i++)
            u += neg[i] * mins[i] + pos[i] * maxs[i];
        return u;
    }

    private static (float[] Scores, int[] Order) Scratch(int pages)
    {
        if (t_pageScores is null || t_pageScores.Length < pages)
        {
            t_pageScores = new float[Math.Max(pages, 64)];
            t_order = new int[t_pageScores.Length];
        }
        return (t_pageScores, t_order!);
    }

    // Writes the k best of score[0..n) (higher first, ties: the lower index; NaN counts as −inf) into pages, ascending.
    // Each score becomes an order-preserving unsigned key; the k-th largest key is found bit by bit from the top (a
    // candidate stays when at least k keys reach it), each bit one branch-free counting pass over the keys, stopping
    // early once exactly k reach it; then one pass in index order takes every key above it and the first of those equal.
    // (A quickselect over the values mispredicted about half its comparisons: several times slower on quest's 1024 pages.)
    internal static void SelectTop(float[] score, int n, int k, Span<int> pages)
    {
        if (k >= n)
        {
            for (int i = 0; i < n; i++)
                pages[i] = i;
            return;
        }
        int padded = (n + 15) & ~15;
        if (t_keys is null || t_keys.Length < padded)
            t_keys = new uint[Math.Max(padded, 64)];
        var keys = t_keys.AsSpan(0, padded);
        SortKeys(score.AsSpan(0, n), keys);
        // Keys past n are 0, below every score's key (−inf and NaN map to 0x007FFFFF): no candidate counts them.
        keys[n..].Clear();
        uint t = 0;
        for (int bit = 31; bit >= 0; bit--)
        {
            uint candidate = t | (1u << bit);
            int reach = CountAtLeast(keys, candidate);
            if (reach >= k)
            {
                t = candidate;
                if (reach == k)
                    break;
            }
        }
        // t is at most +inf's key (NaN maps to −inf's), so t + 1 does not wrap.
        int above = CountAtLeast(keys, t + 1), ties = k - above, m = 0;
        for (int i = 0; i < n && m < k; i++)
        {
            uint key = keys[i];
            if (key > t || (key == t && ties-- > 0))
                pages[m++] = i;
        }
    }

    // key(x) orders as x does (−0 as +0, NaN as −inf): a non-negative float's bits with the top bit set, a negative one's inverted.
    private static void SortKeys(ReadOnlySpan<float> score, Span<uint> keys)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var top = Vector256.Create(0x80000000u);
            var negInf = Vector256.Create(Key(float.NegativeInfinity));
            for (; i + 8 <= score.Length; i += 8)
            {
                var x = Vector256.Create(score.Slice(i, 8)) + Vector256<float>.Zero;
                var bits = x.AsUInt32();
                var key = bits ^ ((bits.AsInt32() >> 31).AsUInt32() | top);
                Vector256.ConditionalSelect(Vector256.Equals(x, x).AsUInt32(), key, negInf).CopyTo(keys.Slice(i, 8));
            }
        }
        for (; i < score.Length; i++)
            keys[i] = Key(score[i]);
    }

    private static uint Key(float x)
    {
        if (float.IsNaN(x))
            x = float.NegativeInfinity;
        uint bits = BitConverter.SingleToUInt32Bits(x + 0f);
        return bits ^ (uint)(((int)bits >> 31) | int.MinValue);
    }

    // How many keys are ≥ t (keys' length a multiple of 16).
    private static int CountAtLeast(Span<uint> keys, uint t)
    {
        int count = 0, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var c = Vector512.Create(t);
            for (; i < keys.Length; i += 16)
                count += BitOperations.PopCount(Vector512.GreaterThanOrEqual(Vector512.Create<uint>(keys.Slice(i, 16)), c).ExtractMostSignificantBits());
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var c = Vector256.Create(t);
            for (; i < keys.Length; i += 8)
                count += BitOperations.PopCount(Vector256.GreaterThanOrEqual(Vector256.Create<uint>(keys.Slice(i, 8)), c).ExtractMostSignificantBits());
        }
        for (; i < keys.Length; i++)
            count += keys[i] >= t ? 1 : 0;
        return count;
    }

    /// <summary>The page bounds a step would read: (pages scored, pages read) at length n in a sparse layer.</summary>
    public (int Scored, int Read) PagesAt(int layer, int length)
    {
        int pages = (length + Page - 1) / Page;
        return layer < Dense || pages <= PagesPerStep ? (0, pages) : (pages, PagesPerStep);
    }

    // Folds keys not yet in the bounds (incrementally, as the last page fills).
    private void Fold(int layer, int kvHead, int hi, int n, IKeyRows keys)
    {
        int d = Geometry.KeyLength, pages = (Geometry.Context + Page - 1) / Page;
        var mins = _min[hi] ??= new float[pages * d];
        var maxs = _max[hi] ??= new float[pages * d];
        for (int p = _folded[hi]; p < n; p++)
        {
            var k = keys.Key(layer, kvHead, p);
            int b = p / Page * d;
            bool first = p % Page == 0;
            for (int i = 0; i < d; i++)
            {
                mins[b + i] = first ? k[i] : Math.Min(mins[b + i], k[i]);
                maxs[b + i] = first ? k[i] : Math.Max(maxs[b + i], k[i]);
            }
        }
        _folded[hi] = n;
    }
}
