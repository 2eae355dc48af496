using System.Buffers.Binary;
using System.Numerics;

namespace Fathom.Tokenization;

/// <summary>
/// An open-addressing hash map keyed by byte strings, looked up by span so hot paths never allocate a key.
/// Keys are copied into one pooled array.
/// </summary>
internal sealed class ByteMap<T>
{
    private struct Entry
    {
        public int Offset;
        public int Length;
        public uint Hash;
        public T Value;
    }

    private byte[] _pool = new byte[256];
    private int _poolUsed;
    private int[] _slots;
    private Entry[] _entries;
    private int _mask;

    public ByteMap(int capacity = 16)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity * 2));
        _slots = new int[size];
        _mask = size - 1;
        _entries = new Entry[Math.Max(8, capacity)];
    }

    public int Count { get; private set; }

    /// <summary>Bytes held by keys (for bounding caches).</summary>
    public int KeyBytes => _poolUsed;

    public bool TryGetValue(ReadOnlySpan<byte> key, out T value)
    {
        uint h = Hash(key);
        int slot = (int)h & _mask;
        while (true)
        {
            int e = _slots[slot];
            if (e == 0)
            {
                value = default!;
                return false;
            }
            ref Entry entry = ref _entries[e - 1];
            if (entry.Hash == h && entry.Length == key.Length && key.SequenceEqual(_pool.AsSpan(entry.Offset, entry.Length)))
            {
                value = entry.Value;
                return true;
            }
            slot = (slot + 1) & _mask;
        }
    }

    public bool ContainsKey(ReadOnlySpan<byte> key) => TryGetValue(key, out _);

    /// <summary>Adds the key, or replaces its value when present; returns true when it was added.</summary>
    public bool Set(ReadOnlySpan<byte> key, T value) => Put(key, value, replace: true);

    /// <summary>Adds the key unless present (then the existing value stays); returns true when it was added.</summary>
    public bool TryAdd(ReadOnlySpan<byte> key, T value) => Put(key, value, replace: false);

    public void Clear()
    {
        Array.Clear(_slots);
        Array.Clear(_entries, 0, Count);
        Count = 0;
        _poolUsed = 0;
    }

    private bool Put(ReadOnlySpan<byte> key, T value, bool replace)
    {
        uint h = Hash(key);
        int slot = (int)h & _mask;
        while (true)
        {
            int e = _slots[slot];
            if (e == 0)
                break;
            ref Entry entry = ref _entries[e - 1];
            if (entry.Hash == h && entry.Length == key.Length && key.SequenceEqual(_pool.AsSpan(entry.Offset, entry.Length)))
            {
                if (replace)
                    entry.Value = value;
                return false;
            }
            slot = (slot + 1) & _mask;
        }
        if (_poolUsed + key.Length > _pool.Length)
            Array.Resize(ref _pool, Math.Max(_pool.Length * 2, _poolUsed + key.Length));
        key.CopyTo(_pool.AsSpan(_poolUsed));
        if (Count == _entries.Length)
            Array.Resize(ref _entries, _entries.Length * 2);
        _entries[Count] = new Entry { Offset = _poolUsed, Length = key.Length, Hash = h, Value = value };
        _poolUsed += key.Length;
        Count++;
        _slots[slot] = Count;
        if (Count * 2 > _slots.Length)
            Grow();
        return true;
    }

    private void Grow()
    {
        _slots = new int[_slots.Length * 2];
        _mask = _slots.Length - 1;
        for (int i = 0; i < Count; i++)
        {
            int slot = (int)_entries[i].Hash & _mask;
            while (_slots[slot] != 0)
                slot = (slot + 1) & _mask;
            _slots[slot] = i + 1;
        }
    }

    private static uint Hash(ReadOnlySpan<byte> key)
    {
        ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)key.Length;
        int i = 0;
        for (; i + 8 <= key.Length; i += 8)
            h = Mix(h ^ BinaryPrimitives.ReadUInt64LittleEndian(key[i..]));
        ulong tail = 0;
        for (int s = 0; i < key.Length; i++, s += 8)
            tail |= (ulong)key[i] << s;
        h = Mix(h ^ tail);
        return (uint)(h ^ (h >> 32));
    }

    private static ulong Mix(ulong x)
    {
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 31;
        x *= 0x94D049BB133111EBUL;
        return x ^ (x >> 29);
    }
}
