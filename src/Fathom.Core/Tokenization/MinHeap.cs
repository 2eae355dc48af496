namespace Fathom.Tokenization;

/// <summary>A binary min-heap of structs ordered by their <see cref="IComparable{T}"/>; reused across calls.</summary>
internal sealed class MinHeap<T> where T : struct, IComparable<T>
{
    private T[] _items = new T[64];

    public int Count { get; private set; }

    public void Clear() => Count = 0;

    public void Push(T item)
    {
        if (Count == _items.Length)
            Array.Resize(ref _items, _items.Length * 2);
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (item.CompareTo(_items[parent]) >= 0)
                break;
            _items[i] = _items[parent];
            i = parent;
        }
        _items[i] = item;
    }

    public T Pop()
    {
        T top = _items[0];
        T last = _items[--Count];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= Count)
                break;
            if (child + 1 < Count && _items[child + 1].CompareTo(_items[child]) < 0)
                child++;
            if (last.CompareTo(_items[child]) <= 0)
                break;
            _items[i] = _items[child];
            i = child;
        }
        if (Count > 0)
            _items[i] = last;
        return top;
    }
}
