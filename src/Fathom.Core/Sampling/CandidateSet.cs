namespace Fathom.Sampling;

/// <summary>
/// The surviving tokens of one sampling step: ids with their (possibly modified) logits. Buffers are sized to the
/// vocabulary once and reused, so a step allocates nothing.
/// </summary>
internal sealed class CandidateSet
{
    public int[] Ids = [];
    public float[] Logits = [];
    public double[] Probs = [];
    public ulong[] Keys = [];
    public int Count;

    /// <summary>True when candidates are in descending logit order, ties by ascending id.</summary>
    public bool Sorted;

    public void Load(ReadOnlySpan<float> logits)
    {
        int n = logits.Length;
        if (Ids.Length < n)
        {
            Ids = new int[n];
            Logits = new float[n];
            Probs = new double[n];
            Keys = new ulong[n];
        }
        logits.CopyTo(Logits);
        for (int i = 0; i < n; i++) Ids[i] = i;
        Count = n;
        Sorted = false;
    }

    public float MaxLogit()
    {
        if (Sorted) return Logits[0];
        float max = float.NegativeInfinity;
        for (int i = 0; i < Count; i++) if (Logits[i] > max) max = Logits[i];
        return max;
    }

    /// <summary>Fills <see cref="Probs"/> with the softmax of the current logits (in double) and returns their sum before normalizing.</summary>
    public void Softmax()
    {
        float max = MaxLogit();
        double sum = 0;
        for (int i = 0; i < Count; i++)
        {
            double e = Math.Exp(Logits[i] - max);
            Probs[i] = e;
            sum += e;
        }
        double inv = 1.0 / sum;
        for (int i = 0; i < Count; i++) Probs[i] *= inv;
    }

    /// <summary>Sorts descending by logit, ties by ascending id; a unique 64-bit key per candidate makes the order total.</summary>
    public void Sort()
    {
        if (Sorted) return;
        Span<ulong> keys = Keys.AsSpan(0, Count);
        for (int i = 0; i < Count; i++) keys[i] = DescendingKey(Logits[i], Ids[i]);
        keys.Sort();
        WriteBack(keys);
        Sorted = true;
    }

    /// <summary>Keeps the k best (descending logit, ties by lowest id), sorted, in O(n + k log k).</summary>
    public void KeepTop(int k)
    {
        if (k >= Count)
        {
            Sort();
            return;
        }
        if (Sorted)
        {
            Count = k;
            return;
        }
        Span<ulong> keys = Keys.AsSpan(0, Count);
        for (int i = 0; i < Count; i++) keys[i] = DescendingKey(Logits[i], Ids[i]);
        Selection.NthElement(keys, k);
        Span<ulong> head = keys[..k];
        head.Sort();
        Count = k;
        WriteBack(head);
        Sorted = true;
    }

    private void WriteBack(ReadOnlySpan<ulong> keys)
    {
        for (int i = 0; i < keys.Length; i++)
        {
            Ids[i] = (int)(uint)keys[i];
            Logits[i] = FromDescendingKey(keys[i]);
        }
    }

    /// <summary>Maps (logit, id) to a key whose ascending order is descending logit then ascending id.</summary>
    public static ulong DescendingKey(float logit, int id) => ((ulong)~AscendingBits(logit) << 32) | (uint)id;

    public static ulong AscendingKey(float value, int id) => ((ulong)AscendingBits(value) << 32) | (uint)id;

    private static uint AscendingBits(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }

    private static float FromDescendingKey(ulong key)
    {
        uint asc = ~(uint)(key >> 32);
        uint bits = (asc & 0x8000_0000u) != 0 ? asc & 0x7FFF_FFFFu : ~asc;
        return BitConverter.UInt32BitsToSingle(bits);
    }
}

internal static class Selection
{
    /// <summary>Reorders so the k smallest keys occupy [0, k) (in any order); keys must be distinct.</summary>
    public static void NthElement(Span<ulong> keys, int k)
    {
        int lo = 0, hi = keys.Length - 1;
        while (hi > lo)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (keys[mid] < keys[lo]) (keys[mid], keys[lo]) = (keys[lo], keys[mid]);
            if (keys[hi] < keys[lo]) (keys[hi], keys[lo]) = (keys[lo], keys[hi]);
            if (keys[hi] < keys[mid]) (keys[hi], keys[mid]) = (keys[mid], keys[hi]);
            ulong pivot = keys[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (keys[i] < pivot) i++;
                while (keys[j] > pivot) j--;
                if (i <= j)
                {
                    (keys[i], keys[j]) = (keys[j], keys[i]);
                    i++;
                    j--;
                }
            }
            if (k - 1 <= j) hi = j;
            else if (k - 1 >= i) lo = i;
            else return;
        }
    }
}
