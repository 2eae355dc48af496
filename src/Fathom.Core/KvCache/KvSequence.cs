using System.Runtime.InteropServices;
using Fathom.Attention;
using Fathom.Tensors;

namespace Fathom.KvCache;

/// <summary>
/// One sequence's keys and values: per layer, a page table (page ids in slot order) and the position
/// each slot's key was rotated with. Slots are dense (eviction compacts), positions ascend but may
/// have gaps after eviction. Implements <see cref="IKvCache"/> (the llama.cpp-exact plain attention)
/// while both types are f16 and nothing was evicted.
/// </summary>
public sealed class KvSequence : IKvCache
{
    private readonly Layer[] _layers;
    // Bytes of one KV head's key (value) in a row, read on every page address of the decode path.
    private readonly int _keyHeadBytes, _valueHeadBytes;
    private bool _freed;
    private float[]? _boundsRow;

    internal KvSequence(KvCacheManager manager, int id, int capacity)
    {
        Manager = manager;
        Id = id;
        Capacity = capacity;
        _layers = new Layer[manager.Options.Layers];
        for (int l = 0; l < _layers.Length; l++)
            _layers[l] = new Layer(manager.Options.KvHeads);
        _keyHeadBytes = KvTypes.RowBytes(manager.Options.KeyType, manager.Options.KeyLength);
        _valueHeadBytes = KvTypes.RowBytes(manager.Options.ValueType, manager.Options.ValueLength);
    }

    private sealed class Layer(int kvHeads)
    {
        public readonly List<int> Pages = [];
        public readonly List<int> Positions = [];
        public readonly PageBounds Bounds = new(kvHeads);
        public bool Evicted;
        // Some stored f16 key or value half is infinite or NaN (sticky until the layer is emptied).
        public bool NonFinite;
    }

    // Key bounds of every page of a layer in one array ([page][min KeyWidth | max KeyWidth]), and the copy quest scores:
    // per KV head, its pages' bounds side by side as 8-bit integers rounded outward with one scale per page
    // ([page][min d | max d], scales apart), a contiguous stream per head at an eighth of the bytes (the rounding only
    // widens the bounds, so they stay bounds). Each head's stream is its own arrays behind its own lock: the heads of a
    // layer are scored on several threads at once.
    private sealed class PageBounds(int kvHeads)
    {
        public float[] Data = [];
        public int Count;
        public int Width;
        private readonly HeadStream[] _heads = Enumerable.Range(0, kvHeads).Select(_ => new HeadStream()).ToArray();

        private sealed class HeadStream
        {
            public sbyte[] Packed = [];
            public float[] Scales = [];
            public int Valid;
        }

        public Span<float> this[int page] => Data.AsSpan(page * 2 * Width, 2 * Width);

        public (ReadOnlyMemory<sbyte> Bounds, ReadOnlyMemory<float> Scales) Packed(int kvHead)
        {
            int d = Width / kvHeads;
            var stream = _heads[kvHead];
            lock (stream)
            {
                if (stream.Scales.Length < Count)
                {
                    int capacity = Math.Max(Math.Max(64, Count), 2 * stream.Scales.Length);
                    Array.Resize(ref stream.Packed, capacity * 2 * d);
                    Array.Resize(ref stream.Scales, capacity);
                }
                // Pages before Valid are current; the last page may still widen, so it is packed again each time.
                for (int p = Math.Min(stream.Valid, Count); p < Count; p++)
                {
                    var b = this[p];
                    stream.Scales[p] = QuantizeBounds(b.Slice(kvHead * d, d), b.Slice(Width + kvHead * d, d), stream.Packed.AsSpan(p * 2 * d, 2 * d));
                }
                stream.Valid = Math.Max(0, Count - 1);
                return (stream.Packed.AsMemory(0, Count * 2 * d), stream.Scales.AsMemory(0, Count));
            }
        }

        private void Invalidate(int page)
        {
            foreach (var stream in _heads)
            {
                lock (stream)
                    stream.Valid = Math.Min(stream.Valid, page);
            }
        }

        public void Add(int keyWidth)
        {
            Width = keyWidth;
            if ((Count + 1) * 2 * Width > Data.Length)
                Array.Resize(ref Data, Math.Max(2 * Data.Length, (Count + 1) * 2 * Width));
            Reset(Count++);
        }

        public void Reset(int page)
        {
            Invalidate(page);
            var b = this[page];
            b[..Width].Fill(float.PositiveInfinity);
            b[Width..].Fill(float.NegativeInfinity);
        }

        public void RemoveFrom(int pages)
        {
            Invalidate(pages);
            Count = Math.Min(Count, pages);
        }

        public void CopyFrom(PageBounds src)
        {
            Invalidate(0);
            Data = (float[])src.Data.Clone();
            Count = src.Count;
            Width = src.Width;
        }
    }

    internal KvCacheManager Manager { get; }
    private KvCacheOptions O => Manager.Options;
    private BlockPool Pool => Manager.Pool;

    public int Id { get; }

    /// <summary>Slots (positions) this sequence may hold per layer.</summary>
    public int Capacity { get; }

    public int LayerCount => _layers.Length;
    public int KeyWidth => O.KeyWidth;
    public int ValueWidth => O.ValueWidth;
    public int PageSize => O.PageSize;
    public KvType KeyType => O.KeyType;
    public KvType ValueType => O.ValueType;

    /// <summary>KV heads (each row holds one key and one value per KV head).</summary>
    public int KvHeads => O.KvHeads;

    // A page is head-major: its keys, then its values, and within each KV head h's PageSize rows side by side, so one
    // head's rows of a page are one contiguous run (what a per-head read — quest's selection, the exact path — streams).

    /// <summary>Bytes of one KV head's key in a row: the stride between a head's key rows within a page.</summary>
    internal int KeyHeadBytes => _keyHeadBytes;

    /// <summary>Bytes of one KV head's value in a row: the stride between a head's value rows within a page.</summary>
    internal int ValueHeadBytes => _valueHeadBytes;

    /// <summary>Byte offset in a page of KV head <paramref name="kvHead"/>'s key of row <paramref name="row"/>.</summary>
    internal int KeyOffset(int kvHead, int row = 0) => (kvHead * PageSize + row) * KeyHeadBytes;

    /// <summary>Byte offset in a page of KV head <paramref name="kvHead"/>'s value of row <paramref name="row"/>.</summary>
    internal int ValueOffset(int kvHead, int row = 0) => PageSize * O.KeyRowBytes + (kvHead * PageSize + row) * ValueHeadBytes;

    // Row r of a page from floats (all KV heads side by side), each head's part encoded into its place.
    private void EncodeRow(byte[] data, int r, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        EncodeKeyRow(data, r, key);
        int dv = O.ValueLength, vh = ValueHeadBytes;
        for (int h = 0; h < KvHeads; h++)
            KvTypes.Encode(ValueType, value.Slice(h * dv, dv), data.AsSpan(ValueOffset(h, r), vh));
    }

    // The keys of row r of a page from floats, all KV heads side by side.
    private void EncodeKeyRow(byte[] data, int r, ReadOnlySpan<float> row)
    {
        int dk = O.KeyLength, kh = KeyHeadBytes;
        for (int h = 0; h < KvHeads; h++)
            KvTypes.Encode(KeyType, row.Slice(h * dk, dk), data.AsSpan(KeyOffset(h, r), kh));
    }

    // The keys of row r of a page as floats, all KV heads side by side.
    private void DecodeKeyRow(ReadOnlySpan<byte> data, int r, Span<float> row)
    {
        int dk = O.KeyLength, kh = KeyHeadBytes;
        for (int h = 0; h < KvHeads; h++)
            KvTypes.Decode(KeyType, data.Slice(KeyOffset(h, r), kh), row.Slice(h * dk, dk));
    }

    // Copies row sr of page s to row dr of page d (every head's key and value).
    private void CopyRow(byte[] s, int sr, byte[] d, int dr)
    {
        int kh = KeyHeadBytes, vh = ValueHeadBytes;
        for (int h = 0; h < KvHeads; h++)
        {
            s.AsSpan(KeyOffset(h, sr), kh).CopyTo(d.AsSpan(KeyOffset(h, dr), kh));
            s.AsSpan(ValueOffset(h, sr), vh).CopyTo(d.AsSpan(ValueOffset(h, dr), vh));
        }
    }

    /// <summary>
    /// The encoded rows [0, <paramref name="rows"/>) of a page as row-major bytes (each row's KV heads side by side,
    /// KeyRowBytes / ValueRowBytes per row): the layout of a saved prompt cache, whatever the page layout.
    /// </summary>
    internal void ReadEncodedRows(int layer, int page, int rows, Span<byte> keys, Span<byte> values)
    {
        var data = PageData(layer, page);
        int kh = KeyHeadBytes, vh = ValueHeadBytes;
        for (int r = 0; r < rows; r++)
        {
            for (int h = 0; h < KvHeads; h++)
            {
                data.Slice(KeyOffset(h, r), kh).CopyTo(keys.Slice(r * O.KeyRowBytes + h * kh, kh));
                data.Slice(ValueOffset(h, r), vh).CopyTo(values.Slice(r * O.ValueRowBytes + h * vh, vh));
            }
        }
    }

    /// <summary>Slots held in <paramref name="layer"/>.</summary>
    public int SlotCount(int layer) => L(layer).Positions.Count;

    /// <summary>The position each slot's key was rotated with, in slot order (ascending).</summary>
    public ReadOnlySpan<int> Positions(int layer) => CollectionsMarshal.AsSpan(L(layer).Positions);

    public int PageCount(int layer) => L(layer).Pages.Count;

    /// <summary>Pool page id of page <paramref name="page"/> of <paramref name="layer"/> (for accounting and tests).</summary>
    public int PageId(int layer, int page) => L(layer).Pages[page];

    /// <summary>Position after the last stored one (layer 0), 0 when empty.</summary>
    public int NextPosition => _layers[0].Positions.Count == 0 ? 0 : _layers[0].Positions[^1] + 1;

    private Layer L(int layer)
    {
        if (_freed)
            throw new InvalidOperationException($"sequence {Id} was freed");
        return _layers[layer];
    }

    /// <summary>
    /// Appends one slot for <paramref name="position"/> to <paramref name="layer"/>. A position at or
    /// before the last stored one first drops the slots from there on (re-running from a position).
    /// </summary>
    public void Store(int layer, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        var t = L(layer);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        if (key.Length < KeyWidth || value.Length < ValueWidth)
            throw new ArgumentException("key or value row too short");
        if (t.Positions.Count > 0 && position <= t.Positions[^1])
            TruncateLayer(t, LowerBound(t.Positions, position));
        var (data, r) = NextSlot(t, layer);
        EncodeRow(data, r, key, value);
        NoteNonFinite(t, data, r, 1);
        Stored(t, position, data, r);
    }

    /// <summary>Appends a slot from already encoded row-major rows (a saved prompt cache of the same types; see <see cref="ReadEncodedRows"/>).</summary>
    internal void StoreEncoded(int layer, int position, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var t = L(layer);
        var (data, r) = NextSlot(t, layer);
        int kh = KeyHeadBytes, vh = ValueHeadBytes;
        for (int h = 0; h < KvHeads; h++)
        {
            key.Slice(h * kh, kh).CopyTo(data.AsSpan(KeyOffset(h, r), kh));
            value.Slice(h * vh, vh).CopyTo(data.AsSpan(ValueOffset(h, r), vh));
        }
        NoteNonFinite(t, data, r, 1);
        Stored(t, position, data, r);
    }

    // The page and row the next slot goes to: a new page at a page boundary, else the last page (copied first if shared).
    private (byte[] Data, int Row) NextSlot(Layer t, int layer)
    {
        if (t.Positions.Count >= Capacity)
            throw new KvCacheFullException($"sequence {Id} holds {t.Positions.Count} positions in layer {layer}, its capacity");
        int slot = t.Positions.Count, ps = PageSize;
        if (slot % ps == 0)
        {
            t.Pages.Add(Pool.Allocate());
            if (O.TrackKeyBounds)
                t.Bounds.Add(KeyWidth);
        }
        else if (Pool.RefCount(t.Pages[^1]) > 1)
        {
            CopyOnWrite(t);
        }
        return (Pool.Data(t.Pages[^1]), slot % ps);
    }

    // Records the slot's position and widens its page's key bounds over the stored (rounded) key, the one attention reads.
    private void Stored(Layer t, int position, byte[] data, int r)
    {
        t.Positions.Add(position);
        if (O.TrackKeyBounds)
        {
            var row = _boundsRow ??= new float[KeyWidth];
            DecodeKeyRow(data, r, row);
            Widen(t.Bounds[t.Bounds.Count - 1], row);
        }
    }

    /// <summary>
    /// Appends a page computed elsewhere (a prefix-cache hit) to <paramref name="layer"/>: the page is shared
    /// by reference count, its first <paramref name="rows"/> slots hold positions <paramref name="firstPosition"/>…
    /// in order. A partly used page is copied on the next write.
    /// </summary>
    internal void AppendSharedPage(int layer, int pageId, int firstPosition, int rows = 0)
    {
        if (rows == 0)
            rows = PageSize;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, PageSize);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        var t = L(layer);
        ArgumentOutOfRangeException.ThrowIfNegative(firstPosition);
        if (t.Positions.Count % PageSize != 0 || (t.Positions.Count > 0 && firstPosition <= t.Positions[^1]))
            throw new InvalidOperationException($"sequence {Id}: a shared page must start a page after the last stored position");
        if (t.Positions.Count + rows > Capacity)
            throw new KvCacheFullException($"sequence {Id} cannot take {rows} more positions in layer {layer}");
        Pool.Retain(pageId);
        t.Pages.Add(pageId);
        NoteNonFinite(t, Pool.Data(pageId), 0, rows);
        for (int i = 0; i < rows; i++)
            t.Positions.Add(firstPosition + i);
        if (firstPosition + rows != t.Positions.Count)
            t.Evicted = true;
        if (O.TrackKeyBounds)
        {
            t.Bounds.Add(KeyWidth);
            RebuildBounds(t);
        }
    }

    private static void Widen(Span<float> b, ReadOnlySpan<float> key)
    {
        var min = b[..key.Length];
        var max = b.Slice(key.Length, key.Length);
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int w = System.Numerics.Vector<float>.Count;
            for (; i + w <= key.Length; i += w)
            {
                var k = new System.Numerics.Vector<float>(key[i..]);
                System.Numerics.Vector.Min(new System.Numerics.Vector<float>(min[i..]), k).CopyTo(min[i..]);
                System.Numerics.Vector.Max(new System.Numerics.Vector<float>(max[i..]), k).CopyTo(max[i..]);
            }
        }
        for (; i < key.Length; i++)
        {
            min[i] = Math.Min(min[i], key[i]);
            max[i] = Math.Max(max[i], key[i]);
        }
    }

    /// <summary>Per-channel minimum and maximum (KeyWidth each) of the keys stored in a page; needs <see cref="KvCacheOptions.TrackKeyBounds"/>.</summary>
    public void KeyBounds(int layer, int page, out ReadOnlySpan<float> min, out ReadOnlySpan<float> max)
    {
        var t = L(layer);
        if (!O.TrackKeyBounds)
            throw new InvalidOperationException("key bounds are not tracked; set KvCacheOptions.TrackKeyBounds");
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)page, (uint)t.Bounds.Count, nameof(page));
        var b = t.Bounds[page];
        min = b[..KeyWidth];
        max = b[KeyWidth..];
    }

    /// <summary>
    /// One page's bounds of one head as 8-bit integers and a scale: q[i]·scale ≤ min[i] for the d minima and q[d+i]·scale ≥
    /// max[i] for the maxima (rounded outward), each within two steps of the bound. Returns the scale; non-finite bounds give
    /// a NaN scale (the page then scores NaN, which quest ranks last).
    /// </summary>
    internal static float QuantizeBounds(ReadOnlySpan<float> min, ReadOnlySpan<float> max, Span<sbyte> q)
    {
        int d = min.Length;
        float a = 0f;
        for (int i = 0; i < d; i++)
            a = MathF.Max(a, MathF.Max(MathF.Abs(min[i]), MathF.Abs(max[i])));
        if (!float.IsFinite(a))
        {
            q[..(2 * d)].Clear();
            return float.NaN;
        }
        if (a == 0f)
        {
            q[..(2 * d)].Clear();
            return 0f;
        }
        // 125 steps for the largest magnitude: rounding outward, and the correction below, stay inside ±127.
        float scale = a / 125f;
        for (int i = 0; i < d; i++)
        {
            int lo = (int)MathF.Floor(min[i] / scale);
            while (lo * scale > min[i])
                lo--;
            int hi = (int)MathF.Ceiling(max[i] / scale);
            while (hi * scale < max[i])
                hi++;
            q[i] = (sbyte)lo;
            q[d + i] = (sbyte)hi;
        }
        return scale;
    }

    /// <summary>
    /// Quest's copy of the key bounds of one KV head of <paramref name="layer"/>: per page KeyLength minima then KeyLength
    /// maxima as bf16 bits, each rounded outward (minima down, maxima up). Safe to call for several heads at once.
    /// </summary>
    internal (ReadOnlyMemory<sbyte> Bounds, ReadOnlyMemory<float> Scales) PackedKeyBounds(int layer, int kvHead)
    {
        if (!O.TrackKeyBounds)
            throw new InvalidOperationException("key bounds are not tracked; set KvCacheOptions.TrackKeyBounds");
        return L(layer).Bounds.Packed(kvHead);
    }

    private void CopyOnWrite(Layer t)
    {
        int old = t.Pages[^1], fresh = Pool.Allocate();
        Pool.Data(old).AsSpan().CopyTo(Pool.Data(fresh));
        Pool.Release(old);
        t.Pages[^1] = fresh;
    }

    private static int LowerBound(List<int> positions, int position)
    {
        int i = positions.BinarySearch(position);
        return i >= 0 ? i : ~i;
    }

    /// <summary>Keeps the first <paramref name="slots"/> slots of every layer and releases the pages past them.</summary>
    public void Truncate(int slots)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slots);
        foreach (var t in _layers)
            TruncateLayer(t, Math.Min(slots, t.Positions.Count));
    }

    /// <summary>Drops every slot whose position is at or after <paramref name="position"/>, in every layer.</summary>
    public void TruncateFrom(int position)
    {
        if (_freed)
            throw new InvalidOperationException($"sequence {Id} was freed");
        foreach (var t in _layers)
            TruncateLayer(t, LowerBound(t.Positions, position));
    }

    // Marks the layer when f16 rows r..r+count-1 of a page hold an infinite or NaN half, so a decode knows whether the
    // finite-only widening is exact for it.
    private void NoteNonFinite(Layer t, byte[] data, int r, int count)
    {
        if (t.NonFinite)
            return;
        for (int h = 0; h < KvHeads && !t.NonFinite; h++)
        {
            if (KeyType == KvType.F16)
                t.NonFinite |= F16.AnyNonFinite(MemoryMarshal.Cast<byte, ushort>(data.AsSpan(KeyOffset(h, r), count * KeyHeadBytes)));
            if (ValueType == KvType.F16)
                t.NonFinite |= F16.AnyNonFinite(MemoryMarshal.Cast<byte, ushort>(data.AsSpan(ValueOffset(h, r), count * ValueHeadBytes)));
        }
    }

    /// <summary>Whether an f16 key or value of <paramref name="layer"/> may be infinite or NaN (false: every stored half is finite).</summary>
    internal bool MayHoldNonFinite(int layer) => L(layer).NonFinite;

    private void TruncateLayer(Layer t, int slots)
    {
        int keepPages = (slots + PageSize - 1) / PageSize;
        for (int p = t.Pages.Count - 1; p >= keepPages; p--)
            Pool.Release(t.Pages[p]);
        t.Pages.RemoveRange(keepPages, t.Pages.Count - keepPages);
        if (O.TrackKeyBounds)
            t.Bounds.RemoveFrom(keepPages);
        bool partial = slots < t.Positions.Count && slots % PageSize != 0;
        t.Positions.RemoveRange(slots, t.Positions.Count - slots);
        if (slots == 0)
        {
            t.Evicted = false;
            t.NonFinite = false;
        }
        // A now partly filled last page gets the bounds of the keys it still holds, so a re-run selects as the first run did.
        if (O.TrackKeyBounds && partial)
            RebuildPageBounds(t, keepPages - 1);
    }

    private void RebuildPageBounds(Layer t, int p)
    {
        var row = new float[KeyWidth];
        t.Bounds.Reset(p);
        var b = t.Bounds[p];
        int rows = Math.Min(PageSize, t.Positions.Count - p * PageSize);
        var data = Pool.Data(t.Pages[p]);
        for (int r = 0; r < rows; r++)
        {
            DecodeKeyRow(data, r, row);
            Widen(b, row);
        }
    }

    /// <summary>
    /// Marks <paramref name="layer"/> as no longer holding every position it was written (a policy masks slots it will
    /// drop later), so nothing takes it for a dense cache: the exact path, a prompt-cache save, a rewind.
    /// </summary>
    internal void MarkEvicted(int layer) => L(layer).Evicted = true;

    /// <summary>
    /// Keeps only the slots listed in <paramref name="keep"/> (strictly ascending) of <paramref name="layer"/>,
    /// compacting them to the front: keys keep the positions they were rotated with. Shared pages are
    /// copied before being written; pages left empty return to the pool.
    /// </summary>
    public void Retain(int layer, ReadOnlySpan<int> keep)
    {
        var t = L(layer);
        int n = t.Positions.Count;
        for (int i = 0; i < keep.Length; i++)
        {
            if ((uint)keep[i] >= (uint)n || (i > 0 && keep[i] <= keep[i - 1]))
                throw new ArgumentException($"slots to keep must be strictly ascending and below {n}", nameof(keep));
        }
        int ps = PageSize;
        int first = 0;
        while (first < keep.Length && keep[first] == first)
            first++;
        if (first == n)
            return;
        for (int i = first; i < keep.Length; i++)
        {
            int src = keep[i], dst = i;
            int dp = dst / ps, dr = dst % ps, sp = src / ps, sr = src % ps;
            if (Pool.RefCount(t.Pages[dp]) > 1)
            {
                int old = t.Pages[dp], fresh = Pool.Allocate();
                Pool.Data(old).AsSpan().CopyTo(Pool.Data(fresh));
                Pool.Release(old);
                t.Pages[dp] = fresh;
            }
            CopyRow(Pool.Data(t.Pages[sp]), sr, Pool.Data(t.Pages[dp]), dr);
            t.Positions[dst] = t.Positions[src];
        }
        TruncateLayer(t, keep.Length);
        t.Evicted = true;
        if (O.TrackKeyBounds)
            RebuildBounds(t);
    }

    private void RebuildBounds(Layer t)
    {
        for (int p = 0; p < t.Pages.Count; p++)
            RebuildPageBounds(t, p);
    }

    /// <summary>
    /// Context shift of one layer: keeps the first <paramref name="keep"/> slots, drops the next
    /// <paramref name="discard"/>, and moves the rest down by <paramref name="discard"/> positions,
    /// re-rotating their keys with <paramref name="rotate"/>(key row, -discard).
    /// </summary>
    internal void Shift(int layer, int keep, int discard, Action<float[], int> rotate)
    {
        var t = L(layer);
        int n = t.Positions.Count;
        var slots = new int[n - discard];
        for (int i = 0; i < keep; i++)
            slots[i] = i;
        for (int i = keep; i < slots.Length; i++)
            slots[i] = i + discard;
        Retain(layer, slots);
        var row = new float[KeyWidth];
        for (int slot = keep; slot < t.Positions.Count; slot++)
        {
            var data = Pool.Data(t.Pages[slot / PageSize]);
            int r = slot % PageSize;
            DecodeKeyRow(data, r, row);
            rotate(row, -discard);
            EncodeKeyRow(data, r, row);
            NoteNonFinite(t, data, slot % PageSize, 1);
            t.Positions[slot] -= discard;
        }
        bool dense = true;
        for (int i = 0; i < t.Positions.Count && dense; i++)
            dense = t.Positions[i] == i;
        t.Evicted = !dense;
        if (O.TrackKeyBounds)
            RebuildBounds(t);
    }

    /// <summary>Rows held in page <paramref name="page"/> of <paramref name="layer"/>.</summary>
    public int PageRows(int layer, int page)
    {
        var t = L(layer);
        return Math.Min(PageSize, t.Positions.Count - page * PageSize);
    }

    /// <summary>
    /// The bytes of a page: its keys (KeyRowBytes × PageSize), then its values, each head-major: KV head h's PageSize
    /// rows side by side (see <see cref="KeyOffset"/>, <see cref="ValueOffset"/>).
    /// Reading it brings a spilled page back from disk.
    /// </summary>
    public ReadOnlySpan<byte> PageData(int layer, int page) => Pool.Data(L(layer).Pages[page]);

    internal byte[] PageArray(int layer, int page) => Pool.Data(_layers[layer].Pages[page]);

    /// <summary>
    /// dst[page] = the bytes of each listed page of <paramref name="layer"/> (every page when <paramref name="pages"/>
    /// is empty) while in memory, null while on disk (read those with <see cref="PageArray"/>); returns how many are on disk.
    /// </summary>
    internal int PageArrays(int layer, ReadOnlySpan<int> pages, Span<byte[]?> dst)
    {
        var t = L(layer);
        if (pages.IsEmpty)
            return Pool.ResidentData(CollectionsMarshal.AsSpan(t.Pages)[..dst.Length], dst);
        int[] ids = System.Buffers.ArrayPool<int>.Shared.Rent(pages.Length);
        byte[]?[] got = System.Buffers.ArrayPool<byte[]?>.Shared.Rent(pages.Length);
        try
        {
            for (int i = 0; i < pages.Length; i++)
                ids[i] = t.Pages[pages[i]];
            int missing = Pool.ResidentData(ids.AsSpan(0, pages.Length), got.AsSpan(0, pages.Length));
            for (int i = 0; i < pages.Length; i++)
                dst[pages[i]] = got[i];
            return missing;
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(ids);
            System.Buffers.ArrayPool<byte[]?>.Shared.Return(got, clearArray: true);
        }
    }

    /// <summary>Asks the pool to bring pages back from disk ahead of a read (a policy's next pages).</summary>
    public void Prefetch(int layer, ReadOnlySpan<int> pages)
    {
        var t = L(layer);
        foreach (int p in pages)
            Pool.Prefetch(t.Pages[p]);
    }

    /// <summary>Decodes the key of <paramref name="slot"/> for one KV head into <paramref name="dst"/> (KeyLength floats).</summary>
    public void ReadKey(int layer, int slot, int kvHead, Span<float> dst)
    {
        var data = PageData(layer, slot / PageSize);
        KvTypes.Decode(KeyType, data.Slice(KeyOffset(kvHead, slot % PageSize), KeyHeadBytes), dst[..O.KeyLength]);
    }

    /// <summary>Decodes the value of <paramref name="slot"/> for one KV head into <paramref name="dst"/> (ValueLength floats).</summary>
    public void ReadValue(int layer, int slot, int kvHead, Span<float> dst)
    {
        var data = PageData(layer, slot / PageSize);
        KvTypes.Decode(ValueType, data.Slice(ValueOffset(kvHead, slot % PageSize), ValueHeadBytes), dst[..O.ValueLength]);
    }

    /// <summary>
    /// When set, the tiled attention adds the wall time of each decode step's phases on this sequence to it (off, and
    /// free, by default).
    /// </summary>
    public Fathom.Attention.AttentionTiming? Timing { get; set; }

    /// <summary>True while slot i holds position i in every layer (no eviction): the plain attention path can read it.</summary>
    public bool IsDense => Array.TrueForAll(_layers, t => !t.Evicted);

    ReadOnlySpan<Half> IKvCache.Keys(int layer, int page)
    {
        RequirePlain();
        return MemoryMarshal.Cast<byte, Half>(PageData(layer, page)[..(PageSize * O.KeyRowBytes)]);
    }

    ReadOnlySpan<Half> IKvCache.Values(int layer, int page)
    {
        RequirePlain();
        return MemoryMarshal.Cast<byte, Half>(PageData(layer, page)[(PageSize * O.KeyRowBytes)..]);
    }

    private void RequirePlain()
    {
        if (KeyType != KvType.F16 || ValueType != KvType.F16 || !IsDense)
            throw new InvalidOperationException("the plain (llama.cpp-exact) attention reads only dense f16 caches; use the tiled attention");
    }

    internal KvSequence CloneInto(int id)
    {
        var s = new KvSequence(Manager, id, Capacity);
        for (int l = 0; l < _layers.Length; l++)
        {
            var src = _layers[l];
            var dst = s._layers[l];
            foreach (int p in src.Pages)
                Pool.Retain(p);
            dst.Pages.AddRange(src.Pages);
            dst.Positions.AddRange(src.Positions);
            dst.Bounds.CopyFrom(src.Bounds);
            dst.Evicted = src.Evicted;
            dst.NonFinite = src.NonFinite;
        }
        return s;
    }

    internal void ReleaseAll()
    {
        foreach (var t in _layers)
            TruncateLayer(t, 0);
        _freed = true;
    }
}
