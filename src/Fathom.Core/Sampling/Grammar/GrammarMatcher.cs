namespace Fathom.Sampling;

/// <summary>
/// A byte-level pushdown recognizer for a <see cref="GrammarProgram"/>. A parse stack is an interned persistent
/// list of positions (node = top position + parent node); a state is the interned, sorted set of stacks whose top
/// is a byte element (node 0, the empty stack, means "complete"). Transitions (state, byte) are memoized, so
/// walking the vocabulary trie costs a table lookup per node once the states are warm. Calls in tail position
/// reuse the caller's frame, so repetition does not grow stacks. Tables are dropped and rebuilt around the current
/// state when they grow past a bound.
/// </summary>
internal sealed class GrammarMatcher
{
    public const int Dead = -1;
    public const int Unknown = -2;
    private const int MaxNodes = 1 << 18;
    private const int MaxStates = 1 << 12;

    private readonly GrammarProgram _p;
    private readonly int _classes;
    private readonly byte[] _byteClass;
    private int[] _nodePos = new int[256];
    private int[] _nodeParent = new int[256];
    private int[] _nodeStamp = new int[256];
    private int _nodeCount;
    private readonly Dictionary<long, int> _nodeIndex = [];
    private readonly List<int[]> _states = [];
    private readonly List<bool> _accepting = [];
    private readonly List<SignatureRow> _rows = [];
    private readonly Dictionary<StateKey, int> _stateIndex = [];
    private int[] _trans = [];
    private readonly List<int> _scratch = [];
    private int _stamp;

    public GrammarMatcher(GrammarProgram program)
    {
        _p = program;
        _classes = program.ClassCount;
        _byteClass = program.ByteClass;
        Clear();
        Start = StartState();
    }

    public int Start { get; private set; }
    public int StateCount => _states.Count;

    /// <summary>Bumped whenever the tables are rebuilt, so callers can drop caches keyed by state id.</summary>
    public int Generation { get; private set; }

    public bool IsAccepting(int state) => _accepting[state];

    /// <summary>True when some byte continues the state (it is not only "complete").</summary>
    public bool CanContinue(int state) => _states[state].Length > (_accepting[state] ? 1 : 0);

    /// <summary>Transitions by state × byte class (<see cref="GrammarProgram.ByteClass"/>); <see cref="Unknown"/> until computed. Replaced as it grows.</summary>
    public int[] Transitions => _trans;

    public int Advance(int state, byte b)
    {
        int c = _byteClass[b];
        int t = _trans[state * _classes + c];
        return t != Unknown ? t : Compute(state, c);
    }

    /// <summary>Fewest bytes from the state to a complete match.</summary>
    public int MinBytesToComplete(int state)
    {
        int best = int.MaxValue;
        foreach (int s in _states[state])
        {
            long d = 0;
            for (int n = s; n != 0; n = _nodeParent[n])
                d += _p.RestMin[_nodePos[n]];
            best = (int)Math.Min(best, Math.Min(d, int.MaxValue));
        }
        return best;
    }

    /// <summary>Rebuilds the tables around <paramref name="state"/> when they have grown too large; returns its new id.</summary>
    public int Compact(int state)
    {
        if (_nodeCount < MaxNodes && _states.Count < MaxStates)
            return state;
        var chains = new List<List<int>>();
        foreach (int s in _states[state])
        {
            var chain = new List<int>();
            for (int n = s; n != 0; n = _nodeParent[n])
                chain.Add(_nodePos[n]);
            chains.Add(chain);
        }
        Clear();
        Generation++;
        Start = StartState();
        _scratch.Clear();
        foreach (var chain in chains)
        {
            int node = 0;
            for (int i = chain.Count - 1; i >= 0; i--)
                node = Node(chain[i], node);
            _scratch.Add(node);
        }
        return Intern(_scratch);
    }

    private void Clear()
    {
        _nodeIndex.Clear();
        _states.Clear();
        _accepting.Clear();
        _rows.Clear();
        _stateIndex.Clear();
        _nodeCount = 1;
        _nodePos[0] = -1;
        _nodeParent[0] = -1;
        _trans = new int[_classes * 64];
        Array.Fill(_trans, Unknown);
    }

    private int StartState()
    {
        _scratch.Clear();
        Stamp();
        foreach (int start in _p.Alternatives[_p.Root])
            Expand(Node(start, 0));
        return Intern(_scratch);
    }

    /// <summary>The transition from <paramref name="state"/> on byte class <paramref name="cls"/>, computed and stored.</summary>
    public int Compute(int state, int cls)
    {
        byte b = _p.ClassByte[cls];
        int at = state * _classes + cls;
        // bytes that the same stacks' tops accept lead to the same state: one real computation per such signature
        int[] stacks = _states[state];
        var code = _p.Code;
        ulong signature = 0;
        int next;
        if (stacks.Length <= 64)
        {
            for (int i = 0; i < stacks.Length; i++)
            {
                int s = stacks[i];
                if (s != 0 && _p.Contains(code[_nodePos[s]], b))
                    signature |= 1UL << i;
            }
            if (signature == 0)
            {
                _trans[at] = Dead;
                return Dead;
            }
            var row = _rows[state];
            for (int i = 0; i < row.Count; i++)
            {
                if (row.Signatures[i] == signature)
                {
                    next = row.Next[i];
                    _trans[at] = next;
                    return next;
                }
            }
        }
        _scratch.Clear();
        Stamp();
        foreach (int s in stacks)
        {
            if (s == 0)
                continue;
            int pos = _nodePos[s];
            if (_p.Contains(code[pos], b))
                Expand(Node(pos + 1, _nodeParent[s]));
        }
        next = _scratch.Count == 0 ? Dead : Intern(_scratch);
        _trans[at] = next;
        if (stacks.Length <= 64)
            _rows[state].Add(signature, next);
        return next;
    }

    private void Stamp()
    {
        if (++_stamp == int.MaxValue)
        {
            Array.Clear(_nodeStamp);
            _stamp = 1;
        }
    }

    /// <summary>Adds every stack reachable from <paramref name="node"/> without consuming a byte whose top is a byte element (or the empty stack).</summary>
    private void Expand(int node)
    {
        if (_nodeStamp[node] == _stamp)
            return;
        _nodeStamp[node] = _stamp;
        if (node == 0)
        {
            _scratch.Add(0);
            return;
        }
        int pos = _nodePos[node];
        int e = _p.Code[pos];
        if (e == GrammarProgram.End)
        {
            Expand(_nodeParent[node]);
            return;
        }
        if (e >= 0)
        {
            _scratch.Add(node);
            return;
        }
        int parent = _nodeParent[node];
        int continuation = _p.Code[pos + 1] == GrammarProgram.End ? parent : Node(pos + 1, parent);
        foreach (int start in _p.Alternatives[GrammarProgram.RuleOf(e)])
            Expand(Node(start, continuation));
    }

    private int Node(int pos, int parent)
    {
        long key = ((long)pos << 32) | (uint)parent;
        if (_nodeIndex.TryGetValue(key, out int id))
            return id;
        id = _nodeCount++;
        if (id == _nodePos.Length)
        {
            Array.Resize(ref _nodePos, id * 2);
            Array.Resize(ref _nodeParent, id * 2);
            Array.Resize(ref _nodeStamp, id * 2);
        }
        _nodePos[id] = pos;
        _nodeParent[id] = parent;
        _nodeIndex[key] = id;
        return id;
    }

    private int Intern(List<int> stacks)
    {
        stacks.Sort();
        var key = new StateKey([.. stacks]);
        if (_stateIndex.TryGetValue(key, out int id))
            return id;
        id = _states.Count;
        _states.Add(key.Stacks);
        _accepting.Add(key.Stacks[0] == 0);
        _rows.Add(new SignatureRow());
        _stateIndex[key] = id;
        if ((id + 1) * _classes > _trans.Length)
        {
            int old = _trans.Length;
            Array.Resize(ref _trans, old * 2);
            Array.Fill(_trans, Unknown, old, old);
        }
        return id;
    }

    private readonly struct StateKey(int[] stacks) : IEquatable<StateKey>
    {
        private readonly int _hash = Hash(stacks);

        public int[] Stacks { get; } = stacks;

        private static int Hash(int[] s)
        {
            var h = new HashCode();
            foreach (int x in s)
                h.Add(x);
            return h.ToHashCode();
        }

        public bool Equals(StateKey other) => _hash == other._hash && Stacks.AsSpan().SequenceEqual(other.Stacks);

        public override bool Equals(object? obj) => obj is StateKey k && Equals(k);

        public override int GetHashCode() => _hash;
    }

    /// <summary>The states reached from one state, by the set of its stacks (one bit each) whose top accepts the byte.</summary>
    private sealed class SignatureRow
    {
        public ulong[] Signatures = new ulong[4];
        public int[] Next = new int[4];
        public int Count;

        public void Add(ulong signature, int next)
        {
            if (Count == Signatures.Length)
            {
                Array.Resize(ref Signatures, Count * 2);
                Array.Resize(ref Next, Count * 2);
            }
            Signatures[Count] = signature;
            Next[Count++] = next;
        }
    }
}
