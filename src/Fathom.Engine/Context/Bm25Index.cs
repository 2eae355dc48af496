namespace Fathom.Context;

/// <summary>
/// Okapi BM25 over a fixed set of chunks, with <see cref="CodeTerms"/> tokenization. Building is one pass over
/// the text with interned term ids (no string per token), so a large repository indexes in well under a second per 10 MB.
/// </summary>
public sealed class Bm25Index
{
    private readonly Dictionary<string, int> _termIds;
    private readonly List<Posting>[] _postings;
    private readonly int[] _lengths;
    private readonly double _averageLength;

    private Bm25Index(Dictionary<string, int> termIds, List<Posting>[] postings, int[] lengths, double k1, double b)
    {
        _termIds = termIds;
        _postings = postings;
        _lengths = lengths;
        long sum = 0;
        foreach (int l in lengths)
            sum += l;
        _averageLength = lengths.Length == 0 ? 0 : (double)sum / lengths.Length;
        K1 = k1;
        B = b;
    }

    public double K1 { get; }
    public double B { get; }
    public int Count => _lengths.Length;
    public int TermCount => _termIds.Count;

    public static Bm25Index Build(IReadOnlyList<string> chunks, double k1 = 1.2, double b = 0.75)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        if (!(k1 >= 0) || !(b >= 0 && b <= 1))
            throw new ArgumentOutOfRangeException(nameof(k1), "BM25 needs k1 ≥ 0 and 0 ≤ b ≤ 1");
        var termIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookup = termIds.GetAlternateLookup<ReadOnlySpan<char>>();
        var postings = new List<List<Posting>>();
        var lengths = new int[chunks.Count];
        var counts = new Dictionary<int, int>();
        for (int d = 0; d < chunks.Count; d++)
        {
            counts.Clear();
            int length = 0;
            CodeTerms.Visit(chunks[d] ?? throw new ArgumentException($"chunk {d} is null", nameof(chunks)), term =>
            {
                if (!lookup.TryGetValue(term, out int id))
                {
                    id = termIds.Count;
                    lookup[term] = id;
                    postings.Add([]);
                }
                counts[id] = counts.GetValueOrDefault(id) + 1;
                length++;
            });
            lengths[d] = length;
            foreach (var (id, tf) in counts)
                postings[id].Add(new Posting(d, tf));
        }
        return new Bm25Index(termIds, [.. postings], lengths, k1, b);
    }

    /// <summary>The BM25 score of every chunk for <paramref name="query"/> (0 where no query term occurs); a repeated query term counts once.</summary>
    public double[] Score(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var scores = new double[Count];
        var seen = new HashSet<int>();
        var lookup = _termIds.GetAlternateLookup<ReadOnlySpan<char>>();
        var ids = new List<int>();
        CodeTerms.Visit(query, term =>
        {
            if (lookup.TryGetValue(term, out int id) && seen.Add(id))
                ids.Add(id);
        });
        int n = Count;
        foreach (int id in ids)
        {
            var list = _postings[id];
            double idf = Math.Log(1 + (n - list.Count + 0.5) / (list.Count + 0.5));
            foreach (var p in list)
            {
                double norm = K1 * (1 - B + B * (_averageLength == 0 ? 1 : _lengths[p.Chunk] / _averageLength));
                scores[p.Chunk] += idf * p.Frequency * (K1 + 1) / (p.Frequency + norm);
            }
        }
        return scores;
    }

    private readonly record struct Posting(int Chunk, int Frequency);
}
