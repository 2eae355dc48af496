using System.Buffers;
using System.Numerics;
using Fathom.KvCache;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Attention;

/// <summary>
/// Causal attention with an online softmax over a paged <see cref="KvSequence"/>: no n×n matrix,
/// keys and values dequantized a page at a time per KV head, one pass per KV head serving all its query
/// heads. Work items are (query tile, KV head, key split): prefill tiles queries, decode splits the
/// key range across threads (flash-decoding) and merges the partial (max, sum, accumulator) triples.
/// The causal mask uses each slot's stored position, so evicted caches work. Float32 throughout:
/// it does not mirror llama.cpp's f16 rounding of Q and of the probabilities (see CausalAttention).
/// </summary>
internal static class TiledAttention
{
    private const int QueryTile = 16;

    public static void Compute(KvSequence cache, int layer, ReadOnlySpan<float> q, int tokens, int firstPosition,
        AttentionShape shape, Span<float> output, WorkerPool? pool, IAttentionHooks? hooks = null)
    {
        int qWidth = shape.Heads * shape.KeyLength, oWidth = shape.Heads * shape.ValueLength;
        if (q.Length < tokens * qWidth || output.Length < tokens * oWidth)
            throw new ArgumentException("attention buffers too small");
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, kvHeads = shape.KvHeads;
        int pageCount = cache.PageCount(layer);
        int tiles = (tokens + QueryTile - 1) / QueryTile;

        // Page selection (decode only): per KV head, the pages to read.
        int[] selected = ArrayPool<int>.Shared.Rent(Math.Max(1, kvHeads * pageCount));
        int[] selectedCount = ArrayPool<int>.Shared.Rent(kvHeads);
        int threads = pool?.ThreadCount ?? 1;
        int maxPages = pageCount;
        for (int kh = 0; kh < kvHeads; kh++)
        {
            int n = -1;
            if (hooks is not null && tokens == 1)
                n = hooks.SelectPages(cache, layer, kh, q.Slice(kh * g * dk, g * dk), selected.AsSpan(kh * pageCount, pageCount));
            if (n < 0)
            {
                for (int p = 0; p < pageCount; p++)
                    selected[kh * pageCount + p] = p;
                n = pageCount;
            }
            else if (n > pageCount)
            {
                throw new InvalidOperationException($"the policy selected {n} pages of {pageCount}");
            }
            selectedCount[kh] = n;
        }

        int items = tiles * kvHeads;
        int splits = items >= 2 * threads ? 1 : Math.Max(1, Math.Min(maxPages, (2 * threads + items - 1) / items));
        int stride = dv + 2;
        int partialLength = items * splits * QueryTile * g * stride;
        float[] partial = ArrayPool<float>.Shared.Rent(Math.Max(1, partialLength));
        try
        {
            unsafe
            {
                fixed (float* qp = q)
                fixed (float* op = output)
                {
                    float* qs = qp, os = op;
                    Action<int, int> body = (i0, i1) =>
                    {
                        int ps = cache.PageSize;
                        float[] scratch = ArrayPool<float>.Shared.Rent(ps * (dk + dv) + ps + dk);
                        try
                        {
                            for (int i = i0; i < i1; i++)
                            {
                                int split = i % splits, item = i / splits;
                                int tile = item / kvHeads, kh = item % kvHeads;
                                int n = selectedCount[kh];
                                int a = (int)((long)n * split / splits), b = (int)((long)n * (split + 1) / splits);
                                Partial(cache, layer, qs, qWidth, tile, tokens, firstPosition, kh, shape,
                                    selected.AsSpan(kh * pageCount + a, b - a), hooks is null ? default : hooks.SlotMask(layer, kh),
                                    scratch, partial.AsSpan(i * QueryTile * g * stride, QueryTile * g * stride));
                            }
                        }
                        finally
                        {
                            ArrayPool<float>.Shared.Return(scratch);
                        }
                    };
                    Run(pool, items * splits, body);

                    Action<int, int> merge = (i0, i1) =>
                    {
                        for (int item = i0; item < i1; item++)
                            Merge(partial, item, splits, tokens, oWidth, shape, os);
                    };
                    Run(pool, items, merge);

                    if (hooks is not null)
                        ReportScores(cache, layer, qs, qWidth, tokens, firstPosition, shape, partial, splits, selected, selectedCount, pageCount, hooks, pool);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
            ArrayPool<int>.Shared.Return(selected);
            ArrayPool<int>.Shared.Return(selectedCount);
        }
    }

    private static void Run(WorkerPool? pool, int count, Action<int, int> body)
    {
        if (pool is null)
            body(0, count);
        else
            pool.For(count, body);
    }

    // One work item: queries of one tile × the group of one KV head over the given pages; writes
    // (m, l, acc[dv]) per (token, head) into dst, with m = -inf when no key was visible.
    private static unsafe void Partial(KvSequence cache, int layer, float* q, int qWidth, int tile, int tokens, int firstPosition,
        int kh, AttentionShape shape, ReadOnlySpan<int> pages, ReadOnlySpan<byte> mask, float[] scratch, Span<float> dst)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, ps = cache.PageSize, stride = dv + 2;
        int t0 = tile * QueryTile, t1 = Math.Min(tokens, t0 + QueryTile);
        for (int t = t0; t < t1; t++)
        {
            for (int h = 0; h < g; h++)
            {
                var st = dst.Slice(((t - t0) * g + h) * stride, stride);
                st[0] = float.NegativeInfinity;
                st[1] = 0f;
                st[2..].Clear();
            }
        }
        var kbuf = scratch.AsSpan(0, ps * dk);
        var vbuf = scratch.AsSpan(ps * dk, ps * dv);
        var s = scratch.AsSpan(ps * (dk + dv), ps);
        var positions = cache.Positions(layer);
        var kt = cache.KeyType;
        var vt = cache.ValueType;
        int khb = KvTypes.RowBytes(kt, dk), vhb = KvTypes.RowBytes(vt, dv);
        int krb = KvTypes.RowBytes(kt, cache.KeyWidth), vrb = KvTypes.RowBytes(vt, cache.ValueWidth);
        int lastPosition = firstPosition + t1 - 1;
        foreach (int page in pages)
        {
            int rows = cache.PageRows(layer, page);
            var pos = positions.Slice(page * ps, rows);
            if (pos[0] > lastPosition)
                continue;
            var data = cache.PageArray(layer, page);
            int visibleRows = rows;
            while (pos[visibleRows - 1] > lastPosition)
                visibleRows--;
            // Rows this head may not read (mask 0) are skipped: the policy dropped them for this head only.
            int maskBase = page * ps;
            bool masked = !mask.IsEmpty && maskBase < mask.Length;
            for (int r = 0; r < visibleRows; r++)
            {
                if (!masked || Visible(mask, maskBase + r))
                    KvTypes.Decode(kt, data.AsSpan(r * krb + kh * khb, khb), kbuf.Slice(r * dk, dk));
            }
            bool valuesLoaded = false;
            for (int t = t0; t < t1; t++)
            {
                int qpos = firstPosition + t;
                int lim = visibleRows;
                while (lim > 0 && pos[lim - 1] > qpos)
                    lim--;
                if (lim == 0)
                    continue;
                if (!valuesLoaded)
                {
                    for (int r = 0; r < visibleRows; r++)
                    {
                        if (!masked || Visible(mask, maskBase + r))
                            KvTypes.Decode(vt, data.AsSpan(ps * krb + r * vrb + kh * vhb, vhb), vbuf.Slice(r * dv, dv));
                    }
                    valuesLoaded = true;
                }
                for (int h = 0; h < g; h++)
                {
                    var qh = new ReadOnlySpan<float>(q + (long)t * qWidth + (kh * g + h) * dk, dk);
                    float mx = float.NegativeInfinity;
                    for (int j = 0; j < lim; j++)
                    {
                        s[j] = masked && !Visible(mask, maskBase + j) ? float.NegativeInfinity : Kernels.Dot(qh, kbuf.Slice(j * dk, dk)) * shape.Scale;
                        mx = Math.Max(mx, s[j]);
                    }
                    if (float.IsNegativeInfinity(mx))
                        continue;
                    var st = dst.Slice(((t - t0) * g + h) * stride, stride);
                    float m = st[0], mNew = Math.Max(m, mx);
                    float corr = float.IsNegativeInfinity(m) ? 0f : MathF.Exp(m - mNew);
                    var acc = st[2..];
                    if (corr != 1f)
                        Scale(acc, corr);
                    float l = st[1] * corr;
                    ExpShifted(s[..lim], mNew);
                    for (int j = 0; j < lim; j++)
                    {
                        float p = s[j];
                        if (p == 0f)
                            continue;
                        l += p;
                        Axpy(p, vbuf.Slice(j * dv, dv), acc);
                    }
                    st[0] = mNew;
                    st[1] = l;
                }
            }
        }
    }

    private static bool Visible(ReadOnlySpan<byte> mask, int slot) => slot >= mask.Length || mask[slot] != 0;

    private static unsafe void Merge(float[] partial, int item, int splits, int tokens, int oWidth, AttentionShape shape, float* output)
    {
        int g = shape.Group, dv = shape.ValueLength, stride = dv + 2, kvHeads = shape.KvHeads;
        int tile = item / kvHeads, kh = item % kvHeads;
        int t0 = tile * QueryTile, t1 = Math.Min(tokens, t0 + QueryTile);
        int block = QueryTile * g * stride;
        for (int t = t0; t < t1; t++)
        {
            for (int h = 0; h < g; h++)
            {
                int off = ((t - t0) * g + h) * stride;
                float m = float.NegativeInfinity;
                for (int sp = 0; sp < splits; sp++)
                    m = Math.Max(m, partial[(item * splits + sp) * block + off]);
                var o = new Span<float>(output + (long)t * oWidth + (kh * g + h) * dv, dv);
                o.Clear();
                float l = 0f;
                for (int sp = 0; sp < splits; sp++)
                {
                    var st = partial.AsSpan((item * splits + sp) * block + off, stride);
                    if (float.IsNegativeInfinity(st[0]))
                        continue;
                    float w = MathF.Exp(st[0] - m);
                    l += st[1] * w;
                    Axpy(w, st[2..], o);
                }
                if (l > 0f)
                    Scale(o, 1f / l);
                // keep the merged max and sum for score reports in split 0's slot
                partial[item * splits * block + off] = m;
                partial[item * splits * block + off + 1] = l;
            }
        }
    }

    private static unsafe void ReportScores(KvSequence cache, int layer, float* q, int qWidth, int tokens, int firstPosition,
        AttentionShape shape, float[] partial, int splits, int[] selected, int[] selectedCount, int pageCount, IAttentionHooks hooks, WorkerPool? pool)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, kvHeads = shape.KvHeads, stride = dv + 2;
        int block = QueryTile * g * stride;
        Action<int, int> body = (i0, i1) =>
        {
            int slots = cache.SlotCount(layer), ps = cache.PageSize;
            float[] w = ArrayPool<float>.Shared.Rent(slots + dk);
            try
            {
                for (int i = i0; i < i1; i++)
                {
                    int t = i / kvHeads, kh = i % kvHeads, position = firstPosition + t;
                    if (!hooks.WantsScores(layer, position))
                        continue;
                    var weights = w.AsSpan(0, slots);
                    var key = w.AsSpan(slots, dk);
                    weights.Clear();
                    var positions = cache.Positions(layer);
                    var mask = hooks.SlotMask(layer, kh);
                    int item = t / QueryTile * kvHeads + kh;
                    for (int k = 0; k < selectedCount[kh]; k++)
                    {
                        int page = selected[kh * pageCount + k];
                        int rows = cache.PageRows(layer, page);
                        for (int r = 0; r < rows; r++)
                        {
                            int slot = page * ps + r;
                            if (positions[slot] > position)
                                break;
                            if (!Visible(mask, slot))
                                continue;
                            cache.ReadKey(layer, slot, kh, key);
                            float sum = 0f;
                            for (int h = 0; h < g; h++)
                            {
                                int off = item * splits * block + ((t % QueryTile) * g + h) * stride;
                                var qh = new ReadOnlySpan<float>(q + (long)t * qWidth + (kh * g + h) * dk, dk);
                                sum += MathF.Exp(Kernels.Dot(qh, key) * shape.Scale - partial[off]) / partial[off + 1];
                            }
                            weights[slot] = sum;
                        }
                    }
                    hooks.OnScores(layer, kh, position, weights);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(w);
            }
        };
        Run(pool, tokens * kvHeads, body);
    }

    // s[j] = exp(s[j] − m), vectorized (a scalar exp per key was the decode kernel's largest cost); masked −inf → 0.
    private static void ExpShifted(Span<float> s, float m)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vm = new Vector<float>(m);
            for (; i + Vector<float>.Count <= s.Length; i += Vector<float>.Count)
                Vector.Exp(new Vector<float>(s[i..]) - vm).CopyTo(s[i..]);
        }
        for (; i < s.Length; i++)
            s[i] = MathF.Exp(s[i] - m);
    }

    private static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<float>(a);
            for (; i + Vector<float>.Count <= y.Length; i += Vector<float>.Count)
                (new Vector<float>(y[i..]) + va * new Vector<float>(x[i..])).CopyTo(y[i..]);
        }
        for (; i < y.Length; i++)
            y[i] += a * x[i];
    }

    private static void Scale(Span<float> y, float a)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i + Vector<float>.Count <= y.Length; i += Vector<float>.Count)
                (new Vector<float>(y[i..]) * a).CopyTo(y[i..]);
        }
        for (; i < y.Length; i++)
            y[i] *= a;
    }
}
