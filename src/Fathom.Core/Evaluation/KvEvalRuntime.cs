using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Fathom.Gguf;
using Fathom.KvPolicies;
using Fathom.Models;
using Fathom.Tensors.Quants;

namespace Fathom.Evaluation;

/// <summary>
/// Runs a model's attention under an <see cref="IKvPolicy"/> for the quality harness. It listens to the
/// forward pass through the session's <see cref="ActivationTap"/>: it copies each layer's rotated Q, K
/// and V, stores K and V at the requested element type (rounded through the type and kept as floats),
/// and overwrites <c>kqv_out</c> with attention computed over the positions the policy lets it read, so
/// the rest of the layer runs on the policy's result. Prefill is full causal attention (the policies act
/// when it ends and in decode); decode steps read only the policy's selection. The model's own
/// attention still runs and is discarded (cheap at the sizes the harness is used at).
/// </summary>
internal sealed class KvEvalRuntime : IKeyRows
{
    private readonly KvPolicyGeometry _g;
    private readonly IKvPolicy _policy;
    private readonly GgmlType _keyType, _valueType;
    private readonly float[][] _keys, _values;
    private readonly float _scale;
    private readonly int _qWidth, _kWidth, _vWidth;
    private float[] _q = [], _k = [], _v = [], _out = [];
    private readonly float[][] _columnSums, _windowVotes;
    private readonly List<int>[] _reads;
    private readonly float[][] _scratch;
    private int _position;

    public KvEvalRuntime(ModelConfig config, int context, IKvPolicy policy, GgmlType keyType, GgmlType valueType, int pageSize)
    {
        _g = new KvPolicyGeometry(config.BlockCount, config.HeadCountKv, config.HeadCount / config.HeadCountKv, config.KeyLength, config.ValueLength, context, pageSize);
        _g.Validate();
        _policy = policy;
        _keyType = keyType;
        _valueType = valueType;
        _qWidth = config.HeadCount * config.KeyLength;
        _kWidth = config.HeadCountKv * config.KeyLength;
        _vWidth = config.HeadCountKv * config.ValueLength;
        _scale = 1f / MathF.Sqrt(config.KeyLength);
        _keys = new float[_g.Layers][];
        _values = new float[_g.Layers][];
        for (int l = 0; l < _g.Layers; l++)
        {
            _keys[l] = new float[(long)context * _kWidth];
            _values[l] = new float[(long)context * _vWidth];
        }
        int heads = _g.Layers * _g.KvHeads;
        _columnSums = new float[heads][];
        _windowVotes = new float[heads][];
        for (int i = 0; i < heads; i++)
        {
            _columnSums[i] = policy.NeedsPrefillColumnSums ? new float[context] : [];
            _windowVotes[i] = policy.ObservationWindow > 0 ? new float[context] : [];
        }
        _reads = new List<int>[_g.KvHeads];
        _scratch = new float[_g.KvHeads][];
        for (int h = 0; h < _g.KvHeads; h++)
        {
            _reads[h] = new List<int>(context);
            _scratch[h] = new float[2 * context];
        }
        Residency = new KvResidency(_g);
        policy.Begin(_g);
    }

    public KvResidency Residency { get; }

    /// <summary>Threads for the per-KV-head loops.</summary>
    public ParallelOptions Parallelism { get; init; } = new() { MaxDegreeOfParallelism = 1 };

    /// <summary>Length of the prefill; queries from PrefillLength − window vote for SnapKV-style policies.</summary>
    public int PrefillLength { get; set; }

    /// <summary>True while decode steps run (one token per forward call, policy selection on).</summary>
    public bool Decoding { get; private set; }

    /// <summary>KV positions read by the last decode step, summed over layers and KV heads.</summary>
    public long LastStepReads { get; private set; }

    /// <summary>Quest page bounds scored by the last decode step, summed over layers and KV heads.</summary>
    public long LastStepBoundPages { get; private set; }

    public ReadOnlySpan<float> Key(int layer, int kvHead, int position) =>
        _keys[layer].AsSpan(position * _kWidth + kvHead * _g.KeyLength, _g.KeyLength);

    /// <summary>The tap to install on the session.</summary>
    public void Tap(string name, ReadOnlySpan<float> values, int rowLength)
    {
        int dash = name.LastIndexOf('-');
        if (dash < 0)
            return;
        string stem = name[..dash];
        if (stem is not ("Qcur" or "Kcur" or "Vcur" or "kqv_out"))
            return;
        int layer = int.Parse(name.AsSpan(dash + 1), System.Globalization.CultureInfo.InvariantCulture);
        switch (stem)
        {
            case "Qcur":
                Copy(values, ref _q);
                break;
            case "Kcur":
                Copy(values, ref _k);
                break;
            case "Vcur":
                Copy(values, ref _v);
                break;
            default:
                // The model's kqv_out buffer is read by the output projection after this call: overwrite it.
                var output = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(values), values.Length);
                Attend(layer, values.Length / rowLength, output);
                break;
        }
    }

    /// <summary>Prefill ended: the policy sees the prefill's scores and may evict.</summary>
    public void EndPrefill()
    {
        for (int l = 0; l < _g.Layers; l++)
        {
            for (int h = 0; h < _g.KvHeads; h++)
            {
                int i = l * _g.KvHeads + h;
                _policy.OnPrefillEnd(l, h, _position, _columnSums[i].AsSpan(0, _columnSums[i].Length == 0 ? 0 : _position),
                    _windowVotes[i].AsSpan(0, _windowVotes[i].Length == 0 ? 0 : _position), Residency);
            }
        }
        Decoding = true;
    }

    private static void Copy(ReadOnlySpan<float> values, ref float[] buffer)
    {
        if (buffer.Length < values.Length)
            buffer = new float[values.Length];
        values.CopyTo(buffer);
    }

    private void Attend(int layer, int tokens, Span<float> output)
    {
        int first = _position;
        if (first + tokens > _g.Context)
            throw new InvalidOperationException($"position {first + tokens} is past the evaluation context of {_g.Context}");
        if (_out.Length < output.Length)
            _out = new float[output.Length];
        Span<byte> packed = stackalloc byte[4 * Math.Max(_kWidth, _vWidth)];
        for (int t = 0; t < tokens; t++)
        {
            int p = first + t;
            RoundTrip(_keyType, _k.AsSpan(t * _kWidth, _kWidth), _keys[layer].AsSpan(p * _kWidth, _kWidth), packed);
            RoundTrip(_valueType, _v.AsSpan(t * _vWidth, _vWidth), _values[layer].AsSpan(p * _vWidth, _vWidth), packed);
            for (int h = 0; h < _g.KvHeads; h++)
                Residency.Add(layer, h, p);
        }

        if (Decoding)
        {
            if (tokens != 1)
                throw new InvalidOperationException("decode steps run one token at a time");
            long reads = 0, pages = 0;
            Parallel.For(0, _g.KvHeads, Parallelism, h => DecodeHead(layer, h, first));
            for (int h = 0; h < _g.KvHeads; h++)
                reads += _reads[h].Count;
            if (_policy is QuestPolicy quest)
                pages = (long)quest.PagesAt(layer, first + 1).Scored * _g.KvHeads;
            LastStepReads = layer == 0 ? reads : LastStepReads + reads;
            LastStepBoundPages = layer == 0 ? pages : LastStepBoundPages + pages;
        }
        else
        {
            Parallel.For(0, _g.KvHeads, Parallelism, h => PrefillHead(layer, h, first, tokens));
        }
        _out.AsSpan(0, output.Length).CopyTo(output);
        if (layer == _g.Layers - 1)
            _position += tokens;
    }

    private static void RoundTrip(GgmlType type, ReadOnlySpan<float> src, Span<float> dst, Span<byte> packed)
    {
        switch (type)
        {
            case GgmlType.F32:
                src.CopyTo(dst);
                break;
            case GgmlType.F16:
                for (int i = 0; i < src.Length; i++)
                    dst[i] = (float)(Half)src[i];
                break;
            default:
                int n = Quantize.Row(type, src, packed);
                Dequantize.Row(type, packed[..n], dst);
                break;
        }
    }

    private void PrefillHead(int layer, int kvHead, int first, int tokens)
    {
        int g = _g.Group, dk = _g.KeyLength, dv = _g.ValueLength, hi = layer * _g.KvHeads + kvHead;
        var p = _scratch[kvHead];
        var sums = _columnSums[hi];
        var votes = _windowVotes[hi];
        int voteFrom = PrefillLength - _policy.ObservationWindow;
        var outAcc = new float[dv];
        for (int t = 0; t < tokens; t++)
        {
            int pos = first + t, n = pos + 1;
            for (int h = 0; h < g; h++)
            {
                var q = _q.AsSpan(t * _qWidth + (kvHead * g + h) * dk, dk);
                var probs = p.AsSpan(0, n);
                Softmax(layer, kvHead, q, n, null, probs);
                Weighted(layer, kvHead, probs, null, outAcc);
                outAcc.CopyTo(_out.AsSpan(t * g * _g.KvHeads * dv + (kvHead * g + h) * dv, dv));
                if (sums.Length > 0)
                {
                    for (int j = 0; j < n; j++)
                        sums[j] += probs[j];
                }
                if (votes.Length > 0 && _policy.ObservationWindow > 0 && pos >= voteFrom)
                {
                    for (int j = 0; j < n; j++)
                        votes[j] += probs[j];
                }
            }
        }
    }

    private void DecodeHead(int layer, int kvHead, int pos)
    {
        int g = _g.Group, dk = _g.KeyLength, dv = _g.ValueLength;
        var reads = _reads[kvHead];
        reads.Clear();
        var queries = _q.AsSpan((kvHead * g) * dk, g * dk);
        _policy.SelectReads(layer, kvHead, pos, queries, this, Residency, reads);
        int[] list = [.. reads];
        int n = list.Length;
        var scratch = _scratch[kvHead];
        var weights = scratch.AsSpan(_g.Context, n);
        weights.Clear();
        var outAcc = new float[dv];
        var probs = scratch.AsSpan(0, n);
        for (int h = 0; h < g; h++)
        {
            Softmax(layer, kvHead, queries.Slice(h * dk, dk), n, list, probs);
            Weighted(layer, kvHead, probs, list, outAcc);
            outAcc.CopyTo(_out.AsSpan((kvHead * g + h) * dv, dv));
            for (int i = 0; i < n; i++)
                weights[i] += probs[i];
        }
        _policy.OnDecodeStep(layer, kvHead, pos, list, weights, Residency);
    }

    // probs[i] = softmax over the keys at positions[i] (or 0..n-1) of scale·q·k.
    private void Softmax(int layer, int kvHead, ReadOnlySpan<float> q, int n, int[]? positions, Span<float> probs)
    {
        var keys = _keys[layer];
        float max = float.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            int j = positions is null ? i : positions[i];
            float s = Dot(q, keys.AsSpan(j * _kWidth + kvHead * _g.KeyLength, _g.KeyLength)) * _scale;
            probs[i] = s;
            max = Math.Max(max, s);
        }
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            float e = MathF.Exp(probs[i] - max);
            probs[i] = e;
            sum += e;
        }
        float inv = (float)(1 / sum);
        for (int i = 0; i < n; i++)
            probs[i] *= inv;
    }

    private void Weighted(int layer, int kvHead, ReadOnlySpan<float> probs, int[]? positions, Span<float> output)
    {
        var values = _values[layer];
        output.Clear();
        for (int i = 0; i < probs.Length; i++)
        {
            int j = positions is null ? i : positions[i];
            var v = values.AsSpan(j * _vWidth + kvHead * _g.ValueLength, _g.ValueLength);
            float w = probs[i];
            for (int c = 0; c < v.Length; c++)
                output[c] += w * v[c];
        }
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int i = 0;
        var acc = Vector256<float>.Zero;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        for (; i + 8 <= a.Length; i += 8)
            acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), acc);
        float s = Vector256.Sum(acc);
        for (; i < a.Length; i++)
            s += a[i] * b[i];
        return s;
    }
}
