namespace Fathom.Sampling;

/// <summary>
/// A grammar lowered to bytes: every rule is a list of alternatives laid out in <see cref="Code"/>, each a run of
/// elements closed by <see cref="End"/>. An element ≥ 0 matches one byte from <see cref="Sets"/>; an element &lt; 0
/// other than End calls rule −(e+1). Character classes become UTF-8 byte-sequence rules, so the matcher never sees
/// code points and a token may end in the middle of a character.
/// </summary>
internal sealed class GrammarProgram
{
    public const int End = int.MinValue;
    public const int Unbounded = int.MaxValue / 4;

    public required int[] Code { get; init; }

    /// <summary>256-bit byte sets, 4 words each.</summary>
    public required ulong[] Sets { get; init; }

    /// <summary>Start position in <see cref="Code"/> of each alternative of each rule.</summary>
    public required int[][] Alternatives { get; init; }

    public required string[] RuleNames { get; init; }
    public required int Root { get; init; }

    /// <summary>Fewest bytes that complete the rest of the alternative from each position (the End included).</summary>
    public required int[] RestMin { get; init; }

    /// <summary>
    /// Bytes no set tells apart share a class (ids 0..<see cref="ClassCount"/>), so transitions are computed and stored
    /// per class; <see cref="ClassByte"/> is one byte of each class.
    /// </summary>
    public byte[] ByteClass { get; } = new byte[256];

    public int ClassCount { get; private set; }

    public byte[] ClassByte { get; private set; } = [];

    public static int RuleOf(int element) => -(element + 1);

    public static int Call(int rule) => -(rule + 1);

    public bool Contains(int set, byte b) => (Sets[(set << 2) + (b >> 6)] & (1UL << (b & 63))) != 0;

    public static GrammarProgram Lower(List<GbnfRule> rules, int root, Func<GbnfRule, string, GrammarException> error)
    {
        var builder = new Builder(rules.Count);
        for (int r = 0; r < rules.Count; r++)
        {
            foreach (var alt in rules[r].Alternatives)
            {
                var elems = new List<int>();
                foreach (var sym in alt)
                {
                    if (sym.Ranges is null)
                        elems.Add(Call(sym.Rule));
                    else
                        builder.AddChars(elems, sym.Ranges);
                }
                builder.Rules[r].Add(elems);
            }
        }
        var names = new string[builder.Rules.Count];
        for (int r = 0; r < names.Length; r++)
            names[r] = r < rules.Count ? rules[r].Name : $"utf8_{r}";
        var program = builder.Build(names, root);
        program.Check(rules, error);
        program.Classify();
        return program;
    }

    private sealed class Builder(int ruleCount)
    {
        private readonly List<ulong> _sets = [];
        private readonly Dictionary<(ulong, ulong, ulong, ulong), int> _setIndex = [];
        private readonly Dictionary<string, int> _utf8Rules = new(StringComparer.Ordinal);

        public List<List<List<int>>> Rules { get; } = Enumerable.Range(0, ruleCount).Select(_ => new List<List<int>>()).ToList();

        public int Set(ulong w0, ulong w1, ulong w2, ulong w3)
        {
            if (!_setIndex.TryGetValue((w0, w1, w2, w3), out int i))
            {
                i = _sets.Count / 4;
                _sets.AddRange([w0, w1, w2, w3]);
                _setIndex[(w0, w1, w2, w3)] = i;
            }
            return i;
        }

        public int ByteRange(int lo, int hi)
        {
            Span<ulong> w = stackalloc ulong[4];
            for (int b = lo; b <= hi; b++)
                w[b >> 6] |= 1UL << (b & 63);
            return Set(w[0], w[1], w[2], w[3]);
        }

        public void AddChars(List<int> elems, int[] ranges)
        {
            if (ranges.Length == 2 && ranges[0] == ranges[1])
            {
                // one character: its UTF-8 bytes in a row
                Span<byte> utf8 = stackalloc byte[4];
                int n = new System.Text.Rune(ranges[0]).EncodeToUtf8(utf8);
                for (int i = 0; i < n; i++)
                    elems.Add(ByteRange(utf8[i], utf8[i]));
                return;
            }
            if (ranges.Length == 0 || ranges[^1] < 0x80)
            {
                Span<ulong> w = stackalloc ulong[4];
                for (int i = 0; i < ranges.Length; i += 2)
                    for (int b = ranges[i]; b <= ranges[i + 1]; b++)
                        w[b >> 6] |= 1UL << (b & 63);
                // an empty class stays an element that matches nothing; the productivity check reports it
                elems.Add(Set(w[0], w[1], w[2], w[3]));
                return;
            }
            string key = CodePointSet.Key(ranges);
            if (!_utf8Rules.TryGetValue(key, out int rule))
            {
                rule = Rules.Count;
                var alts = new List<List<int>>();
                Rules.Add(alts);
                _utf8Rules[key] = rule;
                Span<ulong> ascii = stackalloc ulong[4];
                bool anyAscii = false;
                foreach (var seq in Utf8Ranges.Sequences(ranges))
                {
                    if (seq.Length == 1)
                    {
                        for (int b = seq[0].Lo; b <= seq[0].Hi; b++)
                            ascii[b >> 6] |= 1UL << (b & 63);
                        anyAscii = true;
                        continue;
                    }
                    var alt = new List<int>(seq.Length);
                    foreach (var (lo, hi) in seq)
                        alt.Add(ByteRange(lo, hi));
                    alts.Add(alt);
                }
                if (anyAscii)
                    alts.Insert(0, [Set(ascii[0], ascii[1], ascii[2], ascii[3])]);
            }
            elems.Add(Call(rule));
        }

        public GrammarProgram Build(string[] names, int root)
        {
            var code = new List<int>();
            var starts = new int[Rules.Count][];
            for (int r = 0; r < Rules.Count; r++)
            {
                starts[r] = new int[Rules[r].Count];
                for (int a = 0; a < Rules[r].Count; a++)
                {
                    starts[r][a] = code.Count;
                    code.AddRange(Rules[r][a]);
                    code.Add(End);
                }
            }
            return new GrammarProgram
            {
                Code = [.. code],
                Sets = [.. _sets],
                Alternatives = starts,
                RuleNames = names,
                Root = root,
                RestMin = new int[code.Count],
            };
        }
    }

    private void Classify()
    {
        // two bytes share a class when every set holds both or neither: refine by each set's membership in turn
        var ids = new Dictionary<(int, bool), int>();
        var cls = new int[256];
        int count = 1;
        for (int set = 0; set < Sets.Length / 4; set++)
        {
            ids.Clear();
            for (int b = 0; b < 256; b++)
            {
                var key = (cls[b], Contains(set, (byte)b));
                if (!ids.TryGetValue(key, out int id))
                    ids[key] = id = ids.Count;
                cls[b] = id;
            }
            count = ids.Count;
        }
        ClassByte = new byte[count];
        for (int b = 255; b >= 0; b--)
        {
            ByteClass[b] = (byte)cls[b];
            ClassByte[cls[b]] = (byte)b;
        }
        ClassCount = count;
    }

    private bool IsEmptySet(int set)
    {
        int o = set << 2;
        return (Sets[o] | Sets[o + 1] | Sets[o + 2] | Sets[o + 3]) == 0;
    }

    /// <summary>Fixpoint of each rule's shortest expansion; fills <see cref="RestMin"/>; rejects unproductive and left-recursive rules.</summary>
    private void Check(List<GbnfRule> source, Func<GbnfRule, string, GrammarException> error)
    {
        int n = Alternatives.Length;
        var min = new int[n];
        Array.Fill(min, Unbounded);
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int r = 0; r < n; r++)
            {
                foreach (int start in Alternatives[r])
                {
                    int len = SequenceMin(start, min);
                    if (len < min[r])
                    {
                        min[r] = len;
                        changed = true;
                    }
                }
            }
        }
        for (int p = 0; p < Code.Length; p++)
            RestMin[p] = SequenceMin(p, min);

        var reachable = Reachable();
        for (int r = 0; r < n; r++)
        {
            if (reachable[r] && min[r] >= Unbounded)
            {
                var owner = r < source.Count ? source[r] : null;
                if (owner is not null)
                    throw error(owner, $"rule '{RuleNames[r]}' can never finish matching (every alternative needs an infinite or impossible expansion)");
                throw error(source[Root], "a character class matches no character");
            }
        }
        // left recursion: a rule reachable from itself without consuming a byte
        var state = new byte[n];
        for (int r = 0; r < n; r++)
            if (reachable[r] && state[r] == 0)
                LeftRecursion(r, state, min, source, error);
        // empty byte sets in reachable sequences mean an empty class inside an otherwise productive rule
        for (int r = 0; r < n; r++)
        {
            if (!reachable[r])
                continue;
            foreach (int start in Alternatives[r])
                for (int p = start; Code[p] != End; p++)
                    if (Code[p] >= 0 && IsEmptySet(Code[p]))
                        throw error(r < source.Count ? source[r] : source[Root], $"rule '{RuleNames[r]}' has a character class that matches no character");
        }
    }

    private int SequenceMin(int p, int[] min)
    {
        long total = 0;
        for (; Code[p] != End; p++)
        {
            int e = Code[p];
            total += e >= 0 ? (IsEmptySet(e) ? Unbounded : 1) : min[RuleOf(e)];
            if (total >= Unbounded)
                return Unbounded;
        }
        return (int)total;
    }

    private bool[] Reachable()
    {
        var seen = new bool[Alternatives.Length];
        var todo = new Stack<int>();
        todo.Push(Root);
        seen[Root] = true;
        while (todo.Count > 0)
        {
            int r = todo.Pop();
            foreach (int start in Alternatives[r])
            {
                for (int p = start; Code[p] != End; p++)
                {
                    if (Code[p] < 0 && !seen[RuleOf(Code[p])])
                    {
                        seen[RuleOf(Code[p])] = true;
                        todo.Push(RuleOf(Code[p]));
                    }
                }
            }
        }
        return seen;
    }

    private void LeftRecursion(int r, byte[] state, int[] min, List<GbnfRule> source, Func<GbnfRule, string, GrammarException> error)
    {
        state[r] = 1;
        foreach (int start in Alternatives[r])
        {
            for (int p = start; Code[p] != End; p++)
            {
                int e = Code[p];
                if (e >= 0)
                    break;
                int callee = RuleOf(e);
                if (state[callee] == 1)
                {
                    var owner = source[callee < source.Count ? callee : r < source.Count ? r : Root];
                    throw error(owner, $"rule '{RuleNames[callee]}' is left-recursive (it can reach itself without matching a character)");
                }
                if (state[callee] == 0)
                    LeftRecursion(callee, state, min, source, error);
                if (min[callee] > 0)
                    break;
            }
        }
        state[r] = 2;
    }
}

/// <summary>Splits a set of code points into UTF-8 byte-range sequences (each position one byte range).</summary>
internal static class Utf8Ranges
{
    public static List<(byte Lo, byte Hi)[]> Sequences(int[] ranges)
    {
        var result = new List<(byte, byte)[]>();
        for (int i = 0; i < ranges.Length; i += 2)
            Split(ranges[i], ranges[i + 1], result);
        return result;
    }

    private static void Split(int lo, int hi, List<(byte, byte)[]> result)
    {
        foreach (int boundary in (ReadOnlySpan<int>)[0x7F, 0x7FF, 0xFFFF])
        {
            if (lo <= boundary && boundary < hi)
            {
                Split(lo, boundary, result);
                Split(boundary + 1, hi, result);
                return;
            }
        }
        int length = lo < 0x80 ? 1 : lo < 0x800 ? 2 : lo < 0x10000 ? 3 : 4;
        // make every continuation byte span its full range, or share a prefix, by splitting at 6-bit boundaries
        for (int i = 1; i < length; i++)
        {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m))
            {
                if ((lo & m) != 0)
                {
                    Split(lo, lo | m, result);
                    Split((lo | m) + 1, hi, result);
                    return;
                }
                if ((hi & m) != m)
                {
                    Split(lo, (hi & ~m) - 1, result);
                    Split(hi & ~m, hi, result);
                    return;
                }
            }
        }
        Span<byte> a = stackalloc byte[4];
        Span<byte> b = stackalloc byte[4];
        new System.Text.Rune(lo).EncodeToUtf8(a);
        new System.Text.Rune(hi).EncodeToUtf8(b);
        var seq = new (byte, byte)[length];
        for (int i = 0; i < length; i++)
            seq[i] = (a[i], b[i]);
        result.Add(seq);
    }
}
