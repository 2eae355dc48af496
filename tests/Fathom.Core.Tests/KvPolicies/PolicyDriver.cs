using Fathom.KvPolicies;

namespace Fathom.Tests.KvPolicies;

/// <summary>
/// Drives a policy without a model: random rotated keys, values and queries; prefill of <c>prefill</c>
/// positions (all resident, full causal attention to form the column sums and window votes), then decode
/// steps with attention over the policy's reads. Records every step's output and reads.
/// </summary>
internal sealed class PolicyDriver : IKeyRows
{
    private readonly float[] _keys, _values, _queries;
    private readonly Random _rng;

    public PolicyDriver(KvPolicyGeometry geometry, int seed)
    {
        G = geometry;
        _rng = new Random(seed);
        _keys = Fill(G.Layers * G.Context * G.KvHeads * G.KeyLength);
        _values = Fill(G.Layers * G.Context * G.KvHeads * G.ValueLength);
        _queries = Fill(G.Layers * G.Context * G.KvHeads * G.Group * G.KeyLength);
        Residency = new KvResidency(G);
    }

    public KvPolicyGeometry G { get; }
    public KvResidency Residency { get; }
    public List<float[]> Outputs { get; } = [];
    public List<int[]> Reads { get; } = [];

    public ReadOnlySpan<float> Key(int layer, int kvHead, int position) =>
        _keys.AsSpan(((layer * G.Context + position) * G.KvHeads + kvHead) * G.KeyLength, G.KeyLength);

    private ReadOnlySpan<float> Value(int layer, int kvHead, int position) =>
        _values.AsSpan(((layer * G.Context + position) * G.KvHeads + kvHead) * G.ValueLength, G.ValueLength);

    private ReadOnlySpan<float> Queries(int layer, int kvHead, int position) =>
        _queries.AsSpan(((layer * G.Context + position) * G.KvHeads + kvHead) * G.Group * G.KeyLength, G.Group * G.KeyLength);

    public void Run(IKvPolicy policy, int prefill, int steps)
    {
        policy.Begin(G);
        for (int p = 0; p < prefill; p++)
            Residency.AddPosition(p);
        for (int l = 0; l < G.Layers; l++)
        {
            for (int h = 0; h < G.KvHeads; h++)
            {
                var sums = new float[prefill];
                var votes = new float[prefill];
                for (int t = 0; t < prefill; t++)
                {
                    var positions = Enumerable.Range(0, t + 1).ToArray();
                    var w = Attend(l, h, t, positions, out _);
                    for (int i = 0; i < positions.Length; i++)
                    {
                        sums[i] += w[i];
                        if (t >= prefill - policy.ObservationWindow)
                            votes[i] += w[i];
                    }
                }
                policy.OnPrefillEnd(l, h, prefill, policy.NeedsPrefillColumnSums ? sums : [], policy.ObservationWindow > 0 ? votes : [], Residency);
            }
        }
        for (int s = 0; s < steps; s++)
        {
            int pos = prefill + s;
            var step = new List<float>();
            for (int l = 0; l < G.Layers; l++)
            {
                for (int h = 0; h < G.KvHeads; h++)
                {
                    Residency.Add(l, h, pos);
                    var reads = new List<int>();
                    policy.SelectReads(l, h, pos, Queries(l, h, pos), this, Residency, reads);
                    int[] r = [.. reads];
                    Reads.Add(r);
                    var w = Attend(l, h, pos, r, out var o);
                    step.AddRange(o);
                    policy.OnDecodeStep(l, h, pos, r, w, Residency);
                }
            }
            Outputs.Add([.. step]);
        }
    }

    // Softmax attention of the group's heads over positions: returns the weights summed over the group.
    private float[] Attend(int layer, int kvHead, int position, int[] positions, out float[] output)
    {
        int d = G.KeyLength;
        var q = Queries(layer, kvHead, position);
        var sum = new float[positions.Length];
        output = new float[G.Group * G.ValueLength];
        for (int h = 0; h < G.Group; h++)
        {
            var s = new double[positions.Length];
            double max = double.NegativeInfinity;
            for (int i = 0; i < positions.Length; i++)
            {
                var k = Key(layer, kvHead, positions[i]);
                double dot = 0;
                for (int c = 0; c < d; c++)
                    dot += q[h * d + c] * k[c];
                s[i] = dot / Math.Sqrt(d);
                max = Math.Max(max, s[i]);
            }
            double z = s.Sum(x => Math.Exp(x - max));
            for (int i = 0; i < positions.Length; i++)
            {
                float p = (float)(Math.Exp(s[i] - max) / z);
                sum[i] += p;
                var v = Value(layer, kvHead, positions[i]);
                for (int c = 0; c < G.ValueLength; c++)
                    output[h * G.ValueLength + c] += p * v[c];
            }
        }
        return sum;
    }

    private float[] Fill(int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
            a[i] = (float)(_rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>Pages a layer must hold for its resident positions, counted from scratch.</summary>
    public int RecountPages(int layer)
    {
        var pages = new HashSet<int>();
        for (int h = 0; h < G.KvHeads; h++)
        {
            for (int p = 0; p < Residency.Length; p++)
            {
                if (Residency.Contains(layer, h, p))
                    pages.Add(p / G.PageSize);
            }
        }
        return pages.Count;
    }
}
