using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
        int threads = pool?.ThreadCount ?? 1;

        // Page selection (decode only): per KV head, the pages to read.
        int[] selected = ArrayPool<int>.Shared.Rent(Math.Max(1, kvHeads * pageCount));
        int[] selectedCount = ArrayPool<int>.Shared.Rent(kvHeads);
        byte[]?[] pageData = ArrayPool<byte[]?>.Shared.Rent(Math.Max(1, pageCount));
        int stride = dv + 2;
        float[]? partial = null, raw = null;
        var timing = tokens == 1 ? cache.Timing : null;
        long start = timing is null ? 0 : Stopwatch.GetTimestamp(), chosen = 0, gathered = 0, folded = 0;
        try
        {
            if (hooks is not null && tokens == 1)
                SelectAll(cache, layer, q, shape, hooks, selected, selectedCount, pageCount, hooks.SelectsConcurrently ? pool : null);
            else
                selectedCount.AsSpan(0, kvHeads).Fill(-1);
            if (timing is not null)
                chosen = Stopwatch.GetTimestamp();
            int items = tiles * kvHeads;
            bool byPage = tokens == 1 && kvHeads <= 32;
            int[]? union = null, headsOf = null;
            int unionCount = 0;
            if (byPage)
                (union, headsOf, unionCount) = PageUnion(selected, selectedCount, kvHeads, pageCount);
            GatherPages(cache, layer, selected, selectedCount, kvHeads, pageCount, pageData, union, unionCount);
            int splits = byPage ? Math.Max(1, Math.Min(unionCount, 2 * threads))
                : items >= 2 * threads ? 1 : Math.Max(1, Math.Min(pageCount, (2 * threads + items - 1) / items));
            // Split boundaries in the page union by work (the heads reading each page), not by page count: quest's
            // pages are read by one head here and all of them there.
            int[]? bounds = byPage ? SplitByWork(union!, headsOf!, unionCount, splits) : null;
            // A decode step whose weights a policy wants keeps the fold's raw scores, so the weights need no second pass.
            int slots = cache.SlotCount(layer);
            if (byPage && hooks is not null && hooks.WantsScores(layer, firstPosition) && DecodeStep.Supports(shape))
            {
                raw = ArrayPool<float>.Shared.Rent(kvHeads * g * slots);
                raw.AsSpan(0, kvHeads * g * slots).Fill(float.NegativeInfinity);
            }
            int partialLength = items * splits * QueryTile * g * stride;
            partial = ArrayPool<float>.Shared.Rent(Math.Max(1, partialLength));
            unsafe
            {
                fixed (float* qp = q)
                fixed (float* op = output)
                {
                    float* qs = qp, os = op;
                    Action<int, int> byPageBody = (i0, i1) =>
                    {
                        int ps = cache.PageSize, psPad = DecodeStep.RoundUp(ps);
                        float[] scratch = ArrayPool<float>.Shared.Rent(psPad * (dk + dv) + DecodeStep.ScoreFloats(g, ps)
                            + kvHeads * DecodeStep.PadGroup(g) * dk);
                        try
                        {
                            for (int sp = i0; sp < i1; sp++)
                            {
                                int a = bounds![sp], b = bounds[sp + 1];
                                DecodeSplit(cache, pageData, layer, qs, firstPosition, shape, union!.AsSpan(a, b - a), headsOf!, hooks, scratch,
                                    partial, sp, splits, raw, slots);
                            }
                        }
                        finally
                        {
                            ArrayPool<float>.Shared.Return(scratch);
                        }
                    };
                    Action<int, int> body = (i0, i1) =>
                    {
                        int ps = cache.PageSize;
                        int psPad = DecodeStep.RoundUp(ps);
                        float[] scratch = ArrayPool<float>.Shared.Rent(psPad * (2 * dk + dv) + DecodeStep.ScoreFloats(g, ps) + QueryTile * g * dk);
                        try
                        {
                            for (int i = i0; i < i1; i++)
                            {
                                int split = i % splits, item = i / splits;
                                int tile = item / kvHeads, kh = item % kvHeads;
                                int n = selectedCount[kh];
                                var pages = n < 0 ? default : selected.AsSpan(kh * pageCount, n);
                                int total = n < 0 ? pageCount : n;
                                int a = (int)((long)total * split / splits), b = (int)((long)total * (split + 1) / splits);
                                Partial(cache, pageData, layer, qs, qWidth, tile, tokens, firstPosition, kh, shape,
                                    n < 0 ? default : pages[a..b], a, b, hooks is null ? default : hooks.SlotMask(layer, kh),
                                    scratch, partial.AsSpan(i * QueryTile * g * stride, QueryTile * g * stride));
                            }
                        }
                        finally
                        {
                            ArrayPool<float>.Shared.Return(scratch);
                        }
                    };
                    if (timing is not null)
                        gathered = Stopwatch.GetTimestamp();
                    if (byPage)
                        Run(pool, splits, byPageBody);
                    else
                        Run(pool, items * splits, body);
                    if (timing is not null)
                        folded = Stopwatch.GetTimestamp();
                    if (union is not null)
                    {
                        ArrayPool<int>.Shared.Return(union);
                        ArrayPool<int>.Shared.Return(headsOf!);
                    }

                    Action<int, int> merge = (i0, i1) =>
                    {
                        for (int item = i0; item < i1; item++)
                            Merge(partial, item, splits, tokens, oWidth, shape, os);
                    };
                    // A decode step's merge is a few hundred floats per head: cheaper than a dispatch.
                    Run(tokens == 1 ? null : pool, items, merge);

                    if (raw is not null)
                    {
                        ReportRaw(layer, firstPosition, shape, partial, splits, raw, slots, hooks!, pool);
                    }
                    else if (hooks is not null && AnyWantsScores(hooks, layer, firstPosition, tokens))
                    {
                        for (int kh = 0; kh < kvHeads; kh++)
                        {
                            if (selectedCount[kh] < 0)
                            {
                                for (int p = 0; p < pageCount; p++)
                                    selected[kh * pageCount + p] = p;
                                selectedCount[kh] = pageCount;
                            }
                        }
                        ReportScores(cache, layer, qs, qWidth, tokens, firstPosition, shape, partial, splits, selected, selectedCount, pageCount, hooks, pool);
                    }
                }
            }
        }
        finally
        {
            if (timing is not null && folded != 0)
                timing.Add(start, chosen, gathered, folded, Stopwatch.GetTimestamp());
            if (partial is not null)
                ArrayPool<float>.Shared.Return(partial);
            if (raw is not null)
                ArrayPool<float>.Shared.Return(raw);
            ArrayPool<int>.Shared.Return(selected);
            ArrayPool<int>.Shared.Return(selectedCount);
            ArrayPool<byte[]?>.Shared.Return(pageData, clearArray: true);
        }
    }

    // selectedCount[kh] = pages KV head kh reads (listed in selected[kh·pageCount…]), or -1 for every page.
    private static void SelectAll(KvSequence cache, int layer, ReadOnlySpan<float> q, AttentionShape shape, IAttentionHooks hooks,
        int[] selected, int[] selectedCount, int pageCount, WorkerPool? pool)
    {
        int g = shape.Group, dk = shape.KeyLength;
        unsafe
        {
            fixed (float* qp = q)
            {
                float* qs = qp;
                Action<int, int> body = (k0, k1) =>
                {
                    for (int kh = k0; kh < k1; kh++)
                    {
                        int n = hooks.SelectPages(cache, layer, kh, new ReadOnlySpan<float>(qs + kh * g * dk, g * dk), selected.AsSpan(kh * pageCount, pageCount));
                        if (n > pageCount)
                            throw new InvalidOperationException($"the policy selected {n} pages of {pageCount}");
                        selectedCount[kh] = n < 0 ? -1 : n;
                    }
                };
                Run(pool, shape.KvHeads, body);
            }
        }
    }

    // The arrays of the pages any head reads (the caller's page union when it has one, unionCount long), under one pool
    // lock; pages on disk are prefetched and read when first used.
    private static void GatherPages(KvSequence cache, int layer, int[] selected, int[] selectedCount, int kvHeads, int pageCount, byte[]?[] pageData,
        int[]? union, int unionCount)
    {
        bool all = false;
        for (int kh = 0; kh < kvHeads && !all; kh++)
            all = selectedCount[kh] < 0;
        int missing;
        if (all)
        {
            missing = cache.PageArrays(layer, default, pageData.AsSpan(0, pageCount));
        }
        else
        {
            // Without the caller's union (more KV heads than PageUnion's head masks hold), it is built here.
            int[]? built = union is null ? ArrayPool<int>.Shared.Rent(Math.Max(1, pageCount)) : null;
            try
            {
                if (built is not null)
                    unionCount = Union(selected, selectedCount, kvHeads, pageCount, built);
                var pages = (union ?? built!).AsSpan(0, unionCount);
                missing = cache.PageArrays(layer, pages, pageData.AsSpan(0, pageCount));
                if (missing > 0)
                    PrefetchMissing(cache, layer, pages, pageData);
                return;
            }
            finally
            {
                if (built is not null)
                    ArrayPool<int>.Shared.Return(built);
            }
        }
        if (missing > 0)
        {
            int[] ids = ArrayPool<int>.Shared.Rent(pageCount);
            for (int p = 0; p < pageCount; p++)
                ids[p] = p;
            PrefetchMissing(cache, layer, ids.AsSpan(0, pageCount), pageData);
            ArrayPool<int>.Shared.Return(ids);
        }
    }

    // The pages any KV head reads, each once, in the order heads list them; returns how many.
    private static int Union(int[] selected, int[] selectedCount, int kvHeads, int pageCount, int[] union)
    {
        bool[] seen = ArrayPool<bool>.Shared.Rent(Math.Max(1, pageCount));
        Array.Clear(seen, 0, pageCount);
        int n = 0;
        for (int kh = 0; kh < kvHeads; kh++)
        {
            foreach (int p in selected.AsSpan(kh * pageCount, selectedCount[kh]))
            {
                if (!seen[p])
                {
                    seen[p] = true;
                    union[n++] = p;
                }
            }
        }
        ArrayPool<bool>.Shared.Return(seen);
        return n;
    }

    private static void PrefetchMissing(KvSequence cache, int layer, ReadOnlySpan<int> pages, byte[]?[] pageData)
    {
        int[] miss = ArrayPool<int>.Shared.Rent(Math.Max(1, pages.Length));
        int m = 0;
        foreach (int p in pages)
        {
            if (pageData[p] is null)
                miss[m++] = p;
        }
        cache.Prefetch(layer, miss.AsSpan(0, m));
        ArrayPool<int>.Shared.Return(miss);
    }

    private static bool AnyWantsScores(IAttentionHooks hooks, int layer, int firstPosition, int tokens)
    {
        for (int t = 0; t < tokens; t++)
        {
            if (hooks.WantsScores(layer, firstPosition + t))
                return true;
        }
        return false;
    }

    private static void Run(WorkerPool? pool, int count, Action<int, int> body)
    {
        if (pool is null || count <= 1)
            body(0, count);
        else
            pool.For(count, body);
    }

    // The pages any KV head reads, ascending, and per page a bit mask of the heads that read it.
    private static (int[] Union, int[] HeadsOf, int Count) PageUnion(int[] selected, int[] selectedCount, int kvHeads, int pageCount)
    {
        int[] union = ArrayPool<int>.Shared.Rent(Math.Max(1, pageCount));
        int[] headsOf = ArrayPool<int>.Shared.Rent(Math.Max(1, pageCount));
        Array.Clear(headsOf, 0, pageCount);
        for (int kh = 0; kh < kvHeads; kh++)
        {
            int bit = 1 << kh;
            if (selectedCount[kh] < 0)
            {
                for (int p = 0; p < pageCount; p++)
                    headsOf[p] |= bit;
            }
            else
            {
                foreach (int p in selected.AsSpan(kh * pageCount, selectedCount[kh]))
                    headsOf[p] |= bit;
            }
        }
        int n = 0;
        for (int p = 0; p < pageCount; p++)
        {
            if (headsOf[p] != 0)
                union[n++] = p;
        }
        return (union, headsOf, n);
    }

    // Decode, one split of the pages: pages outer and KV heads inner, so a page is streamed once and in order (each
    // head's rows are one run of the head-major page); writes the split's (m, l, acc) per head into its slot.
    private static unsafe void DecodeSplit(KvSequence cache, byte[]?[] pageData, int layer, float* q, int firstPosition, AttentionShape shape,
        ReadOnlySpan<int> pages, int[] headsOf, IAttentionHooks? hooks, float[] scratch, float[] partial, int split, int splits, float[]? raw, int slots)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, ps = cache.PageSize, stride = dv + 2, kvHeads = shape.KvHeads;
        int block = QueryTile * g * stride, psPad = DecodeStep.RoundUp(ps);
        bool fast = DecodeStep.Supports(shape);
        bool direct = DecodeStep.SupportsInRegisters(shape, ps, cache.KeyType, cache.ValueType);
        // Without AVX-512 the other element types are widened per head and folded by the same kernels.
        bool widened = !fast && !direct && DecodeStep.HasKernels(shape);
        // Rows a masked head reads, batched per head (a page's worth of its key and value rows at most); only a layer with a
        // masked head needs the buffer (not quest's, whose selection is by page).
        byte[]? gatherArray = direct && raw is null && AnyMasked(hooks, layer, kvHeads)
            ? ArrayPool<byte>.Shared.Rent(kvHeads * psPad * (cache.KeyHeadBytes + cache.ValueHeadBytes)) : null;
        try
        {
            fixed (byte* gather = gatherArray)
            fixed (float* sc = scratch)
            fixed (float* pp = partial)
            fixed (float* rw = raw)
            {
                float* kbuf = sc, vbuf = sc + (long)psPad * dk, s = vbuf + (long)psPad * dv, qsc = s + DecodeStep.ScoreFloats(g, ps);
                int gPad = direct || widened ? DecodeStep.PadGroup(g) : g;
                bool finite = !cache.MayHoldNonFinite(layer);
                // The queries per KV head, gPad rows each (FoldPage's ghost heads are zero rows).
                for (int kh = 0; kh < kvHeads; kh++)
                {
                    new Span<float>(q + kh * g * dk, g * dk).CopyTo(new Span<float>(qsc + kh * gPad * dk, g * dk));
                    new Span<float>(qsc + (kh * gPad + g) * dk, (gPad - g) * dk).Clear();
                    Init(pp + (kh * splits + split) * block, g, stride);
                }
                // Pages are head-major: a head's key rows are one run kt apart, its value rows one run vt apart.
                int kt = cache.KeyHeadBytes, vt = cache.ValueHeadBytes;
                // Slots hold ascending positions: when the last is visible, every row is, and no page's positions need
                // reading (a line from memory per scattered page otherwise).
                var positions = cache.Positions(layer);
                bool allVisible = positions.IsEmpty || positions[^1] <= firstPosition;
                // Rows batched per head (see the gathering branch below), folded when a page's worth is in or at the end.
                Span<int> batched = stackalloc int[kvHeads];
                for (int k = 0; k < pages.Length; k++)
                {
                    int page = pages[k];
                    var data = pageData[page] ?? cache.PageArray(layer, page);
                    int heads = headsOf[page];
                    // FoldPage prefetches the rows of the fold after it; the widened paths ask for the next page here.
                    if (!direct && k + 1 < pages.Length && pageData[pages[k + 1]] is { } next)
                        Prefetch(cache, next, headsOf[pages[k + 1]], kvHeads);
                    // Pinned by reference: fixed on the array would read its length, a line from memory per scattered page
                    // that no fold asked for (the page's first head may not be one that reads it).
                    fixed (byte* pd = &System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(data))
                    {
                        bool folds = fast || direct || widened;
                        int rows = !folds ? 0 : allVisible ? cache.PageRows(layer, page) : VisibleRows(cache, layer, page, firstPosition);
                        if (folds && rows == 0)
                            continue;
                        for (int kh = 0; kh < kvHeads; kh++)
                        {
                            if ((heads & (1 << kh)) == 0)
                                continue;
                            var mask = hooks is null ? default : hooks.SlotMask(layer, kh);
                            float* st = pp + (kh * splits + split) * block;
                            if (gather != null && !mask.IsEmpty)
                            {
                                // A head that reads at most an eighth of a page (strided's every s-th row) has those rows
                                // copied into its batch, folded a page's worth at a time: the fold touches their lines only,
                                // not the head's whole runs, and pays its fixed cost once per batch.
                                int picked = 0, m0 = page * ps;
                                for (int r = 0; r < rows; r++)
                                    picked += Visible(mask, m0 + r) ? 1 : 0;
                                if (picked == 0)
                                    continue;
                                byte* gk = gather + (long)kh * psPad * (kt + vt), gv = gk + (long)psPad * kt;
                                if (picked * 8 <= rows)
                                {
                                    for (int r = 0; r < rows; r++)
                                    {
                                        if (!Visible(mask, m0 + r))
                                            continue;
                                        if (batched[kh] == ps)
                                            FoldBatch(cache, finite, qsc + kh * gPad * dk, g, dk, dv, gk, gv, ref batched[kh], shape.Scale, s, st, stride, kbuf);
                                        int n = batched[kh]++;
                                        Buffer.MemoryCopy(pd + cache.KeyOffset(kh, r), gk + (long)n * kt, kt, kt);
                                        Buffer.MemoryCopy(pd + cache.ValueOffset(kh, r), gv + (long)n * vt, vt, vt);
                                    }
                                    // Scattered rows are what the hardware prefetchers cannot guess: ask for the ones two pages on.
                                    if (Sse.IsSupported && k + 2 < pages.Length && (headsOf[pages[k + 2]] & (1 << kh)) != 0 && pageData[pages[k + 2]] is { } far)
                                        PrefetchRows(cache, far, kh, pages[k + 2] * ps, cache.PageRows(layer, pages[k + 2]), mask);
                                    continue;
                                }
                                // A denser page is folded in place, after the rows batched before it.
                                if (batched[kh] > 0)
                                    FoldBatch(cache, finite, qsc + kh * gPad * dk, g, dk, dv, gk, gv, ref batched[kh], shape.Scale, s, st, stride, kbuf);
                            }
                            if (direct)
                            {
                                // What this split folds next: the page's next head that reads it, else the next page's first.
                                byte* ahead = null;
                                int nextRows = 0, nh = kh + 1;
                                while (nh < kvHeads && (heads & (1 << nh)) == 0)
                                    nh++;
                                if (nh < kvHeads)
                                {
                                    ahead = pd;
                                    nextRows = rows;
                                }
                                else if (k + 1 < pages.Length && pageData[pages[k + 1]] is { } nd)
                                {
                                    nh = 0;
                                    while (nh < kvHeads && (headsOf[pages[k + 1]] & (1 << nh)) == 0)
                                        nh++;
                                    // A hint only: the address of an unpinned array is good enough, a stale one merely wastes it.
                                    ahead = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(nd));
                                    nextRows = ps;
                                }
                                // The widening buffers are unused here; they hold the page's block scales instead.
                                DecodeStep.FoldPage(cache.KeyType, cache.ValueType, finite, qsc + kh * gPad * dk, g, dk, dv, pd + cache.KeyOffset(kh), kt,
                                    pd + cache.ValueOffset(kh), vt, rows, shape.Scale, mask, page * ps, s, st, stride, kbuf,
                                    ahead == null ? null : ahead + cache.KeyOffset(nh), ahead == null ? null : ahead + cache.ValueOffset(nh),
                                    nextRows, rw == null ? null : rw + (long)kh * g * slots, slots);
                            }
                            else if (fast)
                            {
                                KvTypes.DecodeRows(cache.KeyType, pd + cache.KeyOffset(kh), kt, rows, dk, kbuf);
                                KvTypes.DecodeRows(cache.ValueType, pd + cache.ValueOffset(kh), vt, rows, dv, vbuf);
                                DecodeStep.Fold(qsc + kh * g * dk, g, dk, dv, kbuf, dk, vbuf, dv, rows, shape.Scale, mask, page * ps, s, st, stride,
                                    rw == null ? null : rw + (long)kh * g * slots, slots);
                            }
                            else if (widened)
                            {
                                KvTypes.DecodeRows(cache.KeyType, pd + cache.KeyOffset(kh), kt, rows, dk, kbuf);
                                KvTypes.DecodeRows(cache.ValueType, pd + cache.ValueOffset(kh), vt, rows, dv, vbuf);
                                DecodeStep.FoldWidened(qsc + kh * gPad * dk, g, dk, dv, kbuf, vbuf, rows, shape.Scale, mask, page * ps, s, st, stride,
                                    rw == null ? null : rw + (long)kh * g * slots, slots);
                            }
                            else
                            {
                                PageStep(cache, pd, page, layer, kh, qsc + kh * g * dk, 0, 1, firstPosition, shape, mask, kbuf, vbuf, s, st);
                            }
                        }
                    }
                }
                for (int kh = 0; kh < kvHeads; kh++)
                {
                    if (batched[kh] > 0)
                    {
                        byte* gk = gather + (long)kh * psPad * (kt + vt);
                        FoldBatch(cache, finite, qsc + kh * gPad * dk, g, dk, dv, gk, gk + (long)psPad * kt, ref batched[kh], shape.Scale,
                            s, pp + (kh * splits + split) * block, stride, kbuf);
                    }
                }
            }
        }
        finally
        {
            if (gatherArray is not null)
                ArrayPool<byte>.Shared.Return(gatherArray);
        }
    }

    // Whether any KV head of the layer has a slot mask.
    private static bool AnyMasked(IAttentionHooks? hooks, int layer, int kvHeads)
    {
        for (int kh = 0; hooks is not null && kh < kvHeads; kh++)
        {
            if (!hooks.SlotMask(layer, kh).IsEmpty)
                return true;
        }
        return false;
    }

    // Asks for the key and value rows of head kh that the mask leaves in a page (slots from m0, rows of them).
    private static unsafe void PrefetchRows(KvSequence cache, byte[] data, int kh, int m0, int rows, ReadOnlySpan<byte> mask)
    {
        // A hint only: the address of an unpinned array is good enough, a stale one merely wastes it.
        byte* pd = (byte*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(data));
        int kt = cache.KeyHeadBytes, vt = cache.ValueHeadBytes;
        for (int r = 0; r < rows; r++)
        {
            if (!Visible(mask, m0 + r))
                continue;
            DecodeStep.PrefetchLines(pd + cache.KeyOffset(kh, r), kt);
            DecodeStep.PrefetchLines(pd + cache.ValueOffset(kh, r), vt);
        }
    }

    // Folds the rows a head has batched (keys at gk, values at gv, in the page's row format) and empties the batch; the
    // kernels read whole blocks of rows, so the rows past the last are zeroed first.
    private static unsafe void FoldBatch(KvSequence cache, bool finite, float* q, int g, int dk, int dv, byte* gk, byte* gv, ref int count,
        float scale, float* s, float* state, int stride, float* scales)
    {
        int n = count, pad = DecodeStep.RoundUp(n), kt = cache.KeyHeadBytes, vt = cache.ValueHeadBytes;
        new Span<byte>(gk + (long)n * kt, (pad - n) * kt).Clear();
        new Span<byte>(gv + (long)n * vt, (pad - n) * vt).Clear();
        DecodeStep.FoldPage(cache.KeyType, cache.ValueType, finite, q, g, dk, dv, gk, kt, gv, vt, n, scale, default, 0, s, state, stride, scales);
        count = 0;
    }

    private static int[] SplitByWork(int[] union, int[] headsOf, int count, int splits)
    {
        long total = 0;
        for (int i = 0; i < count; i++)
            total += System.Numerics.BitOperations.PopCount((uint)headsOf[union[i]]);
        var bounds = new int[splits + 1];
        long done = 0;
        int at = 0;
        for (int sp = 1; sp < splits; sp++)
        {
            long target = total * sp / splits;
            while (at < count && done < target)
                done += System.Numerics.BitOperations.PopCount((uint)headsOf[union[at++]]);
            bounds[sp] = at;
        }
        bounds[splits] = count;
        return bounds;
    }

    // Rows of a page whose positions are at or before the decoded one.
    private static int VisibleRows(KvSequence cache, int layer, int page, int position)
    {
        int rows = cache.PageRows(layer, page);
        var pos = cache.Positions(layer).Slice(page * cache.PageSize, rows);
        while (rows > 0 && pos[rows - 1] > position)
            rows--;
        return rows;
    }

    // Asks for the next page's rows of the heads that read it: quest's pages are scattered, and the first lines of each
    // head's runs are what the hardware prefetchers would otherwise miss.
    private static unsafe void Prefetch(KvSequence cache, byte[] data, int heads, int kvHeads)
    {
        if (!Sse.IsSupported)
            return;
        int kBytes = cache.PageSize * cache.KeyHeadBytes, vBytes = cache.PageSize * cache.ValueHeadBytes;
        fixed (byte* pd = data)
        {
            for (int kh = 0; kh < kvHeads; kh++)
            {
                if ((heads & (1 << kh)) == 0)
                    continue;
                DecodeStep.PrefetchLines(pd + cache.KeyOffset(kh), kBytes);
                DecodeStep.PrefetchLines(pd + cache.ValueOffset(kh), vBytes);
            }
        }
    }

    private static unsafe void Init(float* dst, int count, int stride)
    {
        new Span<float>(dst, count * stride).Clear();
        for (int i = 0; i < count; i++)
            dst[i * stride] = float.NegativeInfinity;
    }

    // One work item: queries of one tile × the group of one KV head over the given pages (or, when pages is empty,
    // pages [from, to)); writes (m, l, acc[dv]) per (token, head) into dst, with m = -inf when no key was visible.
    private static unsafe void Partial(KvSequence cache, byte[]?[] pageData, int layer, float* q, int qWidth, int tile, int tokens, int firstPosition,
        int kh, AttentionShape shape, ReadOnlySpan<int> pages, int from, int to, ReadOnlySpan<byte> mask, float[] scratch, Span<float> dst)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, ps = cache.PageSize, stride = dv + 2;
        int t0 = tile * QueryTile, t1 = Math.Min(tokens, t0 + QueryTile);
        bool listed = !pages.IsEmpty;
        int count = listed ? pages.Length : to - from;
        fixed (float* sc = scratch)
        fixed (float* dp = dst)
        {
            int psPad = DecodeStep.RoundUp(ps);
            float* kbuf = sc, vbuf = sc + psPad * dk, s = vbuf + psPad * dv, qsc = s + DecodeStep.ScoreFloats(g, ps), kT = qsc + QueryTile * g * dk;
            Init(dp, (t1 - t0) * g, stride);
            // The tile's queries of this group, side by side.
            for (int t = t0; t < t1; t++)
            {
                for (int h = 0; h < g; h++)
                {
                    float* src = q + (long)t * qWidth + (kh * g + h) * dk, d = qsc + ((t - t0) * g + h) * dk;
                    for (int i = 0; i < dk; i++)
                        d[i] = src[i];
                }
            }
            for (int k = 0; k < count; k++)
            {
                int page = listed ? pages[k] : from + k;
                var data = pageData[page] ?? cache.PageArray(layer, page);
                fixed (byte* pd = data)
                    PageStep(cache, pd, page, layer, kh, qsc, t0, t1, firstPosition, shape, mask, kbuf, vbuf, s, dp, kT);
            }
        }
    }

    // Folds one page of KV head kh into the online softmax state of tokens [t0, t1) × the group (dst, (m, l, acc) each):
    // the page's rows of this head are widened to float once and serve every query of the tile and group.
    private static unsafe void PageStep(KvSequence cache, byte* pd, int page, int layer, int kh, float* qsc, int t0, int t1, int firstPosition,
        AttentionShape shape, ReadOnlySpan<byte> mask, float* kbuf, float* vbuf, float* s, float* dp, float* kT = null)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, ps = cache.PageSize, stride = dv + 2;
        int rows = cache.PageRows(layer, page);
        var pos = cache.Positions(layer).Slice(page * ps, rows);
        int lastPosition = firstPosition + t1 - 1;
        if (pos[0] > lastPosition)
            return;
        var kt = cache.KeyType;
        var vt = cache.ValueType;
        int visibleRows = rows;
        while (pos[visibleRows - 1] > lastPosition)
            visibleRows--;
        // Rows this head may not read (mask 0) score -inf: the policy dropped them for this head only.
        int maskBase = page * ps;
        bool masked = !mask.IsEmpty && maskBase < mask.Length;
        KvTypes.DecodeRows(kt, pd + cache.KeyOffset(kh), cache.KeyHeadBytes, visibleRows, dk, kbuf);
        bool valuesLoaded = false;
        // The vector fold serves each token's group in turn (kbuf and s hold whole 16-row chunks); else per head below.
        // A tile of several tokens scores against the keys transposed once (kT: dk rows of psPad columns).
        bool fold = DecodeStep.Supports(shape);
        int psPad = DecodeStep.RoundUp(ps);
        bool transposed = DecodeStep.HasKernels(shape) && kT != null && t1 - t0 >= 4;
        if (transposed)
        {
            for (int j = 0; j < visibleRows; j++)
            {
                for (int d = 0; d < dk; d++)
                    kT[(long)d * psPad + j] = kbuf[(long)j * dk + d];
            }
            // Columns past the page's rows up to a whole chunk: read by the scoring, then masked; keep them finite.
            for (int d = 0; d < dk; d++)
                new Span<float>(kT + (long)d * psPad + visibleRows, DecodeStep.RoundUp(visibleRows) - visibleRows).Clear();
        }
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
                KvTypes.DecodeRows(vt, pd + cache.ValueOffset(kh), cache.ValueHeadBytes, visibleRows, dv, vbuf);
                valuesLoaded = true;
            }
            if (transposed)
            {
                DecodeStep.FoldTransposed(qsc + (t - t0) * g * dk, g, dk, dv, kT, psPad, vbuf, dv, lim, shape.Scale, mask, maskBase, s,
                    dp + (t - t0) * g * stride, stride);
                continue;
            }
            if (fold)
            {
                DecodeStep.Fold(qsc + (t - t0) * g * dk, g, dk, dv, kbuf, dk, vbuf, dv, lim, shape.Scale, mask, maskBase, s,
                    dp + (t - t0) * g * stride, stride);
                continue;
            }
            for (int h = 0; h < g; h++)
            {
                float* qh = qsc + ((t - t0) * g + h) * dk;
                float mx = float.NegativeInfinity;
                for (int j = 0; j < lim; j++)
                {
                    float x = masked && !Visible(mask, maskBase + j) ? float.NegativeInfinity : Kernels.Dot(new ReadOnlySpan<float>(qh, dk), new ReadOnlySpan<float>(kbuf + j * dk, dk)) * shape.Scale;
                    s[j] = x;
                    mx = Math.Max(mx, x);
                }
                if (float.IsNegativeInfinity(mx))
                    continue;
                float* st = dp + ((t - t0) * g + h) * stride;
                float m = st[0], mNew = Math.Max(m, mx);
                float corr = float.IsNegativeInfinity(m) ? 0f : MathF.Exp(m - mNew);
                float* acc = st + 2;
                if (corr != 1f)
                    Scale(new Span<float>(acc, dv), corr);
                float l = st[1] * corr;
                ExpShifted(new Span<float>(s, lim), mNew);
                for (int j = 0; j < lim; j++)
                    l += s[j];
                AccumulateRows(s, lim, vbuf, dv, acc);
                st[0] = mNew;
                st[1] = l;
            }
        }
    }

    // acc[0..dv) += Σ_j p[j]·v[j] over rows j < n (v rows dv floats apart), keys in order and zero weights skipped: each
    // element gets Axpy's arithmetic in Axpy's order, so the same bits, but 64 floats of acc stay in registers across
    // every row instead of being loaded and stored once per row.
    private static unsafe void AccumulateRows(float* p, int n, float* v, int dv, float* acc)
    {
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; c + 64 <= dv; c += 64)
            {
                float* a = acc + c;
                Vector256<float> a0 = Vector256.Load(a), a1 = Vector256.Load(a + 8), a2 = Vector256.Load(a + 16), a3 = Vector256.Load(a + 24),
                    a4 = Vector256.Load(a + 32), a5 = Vector256.Load(a + 40), a6 = Vector256.Load(a + 48), a7 = Vector256.Load(a + 56);
                for (int j = 0; j < n; j++)
                {
                    if (p[j] == 0f)
                        continue;
                    var w = Vector256.Create(p[j]);
                    float* x = v + (long)j * dv + c;
                    a0 += w * Vector256.Load(x);
                    a1 += w * Vector256.Load(x + 8);
                    a2 += w * Vector256.Load(x + 16);
                    a3 += w * Vector256.Load(x + 24);
                    a4 += w * Vector256.Load(x + 32);
                    a5 += w * Vector256.Load(x + 40);
                    a6 += w * Vector256.Load(x + 48);
                    a7 += w * Vector256.Load(x + 56);
                }
                a0.Store(a);
                a1.Store(a + 8);
                a2.Store(a + 16);
                a3.Store(a + 24);
                a4.Store(a + 32);
                a5.Store(a + 40);
                a6.Store(a + 48);
                a7.Store(a + 56);
            }
        }
        if (c == dv)
            return;
        for (int j = 0; j < n; j++)
        {
            if (p[j] != 0f)
                Axpy(p[j], v + (long)j * dv + c, acc + c, dv - c);
        }
    }

    // y += a·x, multiply then add (not fused), so results match the earlier Vector<float> kernel bit for bit.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Axpy(float a, float* x, float* y, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a);
            for (; i + 16 <= n; i += 16)
                (Vector512.Load(y + i) + va * Vector512.Load(x + i)).Store(y + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            for (; i + 8 <= n; i += 8)
                (Vector256.Load(y + i) + va * Vector256.Load(x + i)).Store(y + i);
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var va = Vector128.Create(a);
            for (; i + 4 <= n; i += 4)
                (Vector128.Load(y + i) + va * Vector128.Load(x + i)).Store(y + i);
        }
        for (; i < n; i++)
            y[i] += a * x[i];
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

    // A decode step's weights from the fold's raw scores: per slot, the group's sum of exp(score − m_h) / l_h with each
    // head's merged (m, l); slots no head read are −inf, so 0.
    private static unsafe void ReportRaw(int layer, int position, AttentionShape shape, float[] partial, int splits, float[] raw, int slots,
        IAttentionHooks hooks, WorkerPool? pool)
    {
        int g = shape.Group, stride = shape.ValueLength + 2, block = QueryTile * g * stride;
        Action<int, int> body = (k0, k1) =>
        {
            float[] w = ArrayPool<float>.Shared.Rent(slots);
            try
            {
                for (int kh = k0; kh < k1; kh++)
                {
                    var weights = w.AsSpan(0, slots);
                    weights.Clear();
                    for (int h = 0; h < g; h++)
                    {
                        int off = kh * splits * block + h * stride;
                        float m = partial[off], l = partial[off + 1];
                        if (!(l > 0f))
                            continue;
                        ExpWeights(raw.AsSpan((kh * g + h) * slots, slots), m, 1f / l, weights);
                    }
                    hooks.OnScores(layer, kh, position, weights);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(w);
            }
        };
        Run(pool, shape.KvHeads, body);
    }

    // ReportScores by query tile × KV head: each selected page's keys are widened once for the tile's tokens, scored 16
    // at a time per query head, and turned into weights with each head's merged (m, l).
    private static unsafe void ReportTiles(KvSequence cache, int layer, float* q, int qWidth, int tokens, int firstPosition,
        AttentionShape shape, float[] partial, int splits, int[] selected, int[] selectedCount, int pageCount, IAttentionHooks hooks, WorkerPool? pool)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, kvHeads = shape.KvHeads, stride = dv + 2;
        int block = QueryTile * g * stride, tiles = (tokens + QueryTile - 1) / QueryTile;
        Action<int, int> body = (i0, i1) =>
        {
            int slots = cache.SlotCount(layer), ps = cache.PageSize, psPad = DecodeStep.RoundUp(ps);
            var kt = cache.KeyType;
            float[] w = ArrayPool<float>.Shared.Rent(QueryTile * slots);
            float[] scratch = ArrayPool<float>.Shared.Rent(psPad * dk + psPad);
            try
            {
                fixed (float* sp = scratch)
                {
                    float* kbuf = sp, sc = sp + psPad * dk;
                    for (int i = i0; i < i1; i++)
                    {
                        int tile = i / kvHeads, kh = i % kvHeads, t0 = tile * QueryTile, t1 = Math.Min(tokens, t0 + QueryTile);
                        bool any = false;
                        for (int t = t0; t < t1 && !any; t++)
                            any = hooks.WantsScores(layer, firstPosition + t);
                        if (!any)
                            continue;
                        w.AsSpan(0, (t1 - t0) * slots).Clear();
                        var positions = cache.Positions(layer);
                        var mask = hooks.SlotMask(layer, kh);
                        for (int k = 0; k < selectedCount[kh]; k++)
                        {
                            int page = selected[kh * pageCount + k];
                            int rows = VisibleRows(cache, layer, page, firstPosition + t1 - 1);
                            var pos = positions.Slice(page * ps, rows);
                            if (rows == 0)
                                continue;
                            fixed (byte* pd = cache.PageArray(layer, page))
                                KvTypes.DecodeRows(kt, pd + cache.KeyOffset(kh), cache.KeyHeadBytes, rows, dk, kbuf);
                            for (int t = t0; t < t1; t++)
                            {
                                int position = firstPosition + t, lim = rows;
                                if (!hooks.WantsScores(layer, position))
                                    continue;
                                while (lim > 0 && pos[lim - 1] > position)
                                    lim--;
                                var wt = w.AsSpan((t - t0) * slots + page * ps, lim);
                                for (int h = 0; h < g; h++)
                                {
                                    int off = i * splits * block + ((t - t0) * g + h) * stride;
                                    float m = partial[off], l = partial[off + 1];
                                    if (!(l > 0f))
                                        continue;
                                    float* qh = q + (long)t * qWidth + (kh * g + h) * dk;
                                    for (int j = 0; j < lim; j += 16)
                                        CausalAttention.Dot16(qh, kbuf + (long)j * dk, dk, dk, shape.Scale, sc + j);
                                    for (int j = 0; j < lim; j++)
                                    {
                                        if (!Visible(mask, page * ps + j))
                                            sc[j] = float.NegativeInfinity;
                                    }
                                    ExpWeights(new ReadOnlySpan<float>(sc, lim), m, 1f / l, wt);
                                }
                            }
                        }
                        for (int t = t0; t < t1; t++)
                        {
                            if (hooks.WantsScores(layer, firstPosition + t))
                                hooks.OnScores(layer, kh, firstPosition + t, w.AsSpan((t - t0) * slots, slots));
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(w);
                ArrayPool<float>.Shared.Return(scratch);
            }
        };
        Run(pool, tiles * kvHeads, body);
    }

    // w[i] += exp(s[i] − m)·inv, vectorized; −inf (and anything exp rounds to 0) adds nothing.
    private static void ExpWeights(ReadOnlySpan<float> s, float m, float inv, Span<float> w)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vm = Vector512.Create(m);
            var vi = Vector512.Create(inv);
            for (; i + 16 <= s.Length; i += 16)
            {
                var x = Vector512.Create(s.Slice(i, 16)) - vm;
                var e = DecodeStep.ExpOrZero(x);
                (Vector512.Create(w.Slice(i, 16)) + e * vi).CopyTo(w.Slice(i, 16));
            }
        }
        for (; i < s.Length; i++)
            w[i] += MathF.Exp(s[i] - m) * inv;
    }

    private static unsafe void ReportScores(KvSequence cache, int layer, float* q, int qWidth, int tokens, int firstPosition,
        AttentionShape shape, float[] partial, int splits, int[] selected, int[] selectedCount, int pageCount, IAttentionHooks hooks, WorkerPool? pool)
    {
        int g = shape.Group, dk = shape.KeyLength, dv = shape.ValueLength, kvHeads = shape.KvHeads, stride = dv + 2;
        int block = QueryTile * g * stride;
        if (DecodeStep.Supports(shape))
        {
            ReportTiles(cache, layer, q, qWidth, tokens, firstPosition, shape, partial, splits, selected, selectedCount, pageCount, hooks, pool);
            return;
        }
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
