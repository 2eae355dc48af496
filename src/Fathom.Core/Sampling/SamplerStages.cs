namespace Fathom.Sampling;

/// <summary>One filter or transform of the candidate set; stages run in the order <see cref="SamplerChain"/> lists them.</summary>
internal abstract class SamplerStage
{
    public abstract void Apply(CandidateSet c);
}

internal sealed class TopKStage(int k) : SamplerStage
{
    public override void Apply(CandidateSet c) => c.KeepTop(k);
}

internal sealed class TopPStage(float p) : SamplerStage
{
    public override void Apply(CandidateSet c)
    {
        c.Sort();
        c.Softmax();
        double cum = 0;
        for (int i = 0; i < c.Count; i++)
        {
            cum += c.Probs[i];
            if (cum >= p)
            {
                c.Count = i + 1;
                return;
            }
        }
    }
}

internal sealed class MinPStage(float minP) : SamplerStage
{
    private readonly float _logThreshold = MathF.Log(minP);

    public override void Apply(CandidateSet c)
    {
        // p_i ≥ minP·p_max ⇔ logit_i − logit_max ≥ ln(minP): no softmax needed, and order is kept.
        float threshold = c.MaxLogit() + _logThreshold;
        int kept = 0;
        for (int i = 0; i < c.Count; i++)
        {
            if (c.Logits[i] >= threshold)
            {
                c.Ids[kept] = c.Ids[i];
                c.Logits[kept] = c.Logits[i];
                kept++;
            }
        }
        c.Count = Math.Max(kept, 1);
    }
}

internal sealed class TypicalPStage(float p) : SamplerStage
{
    public override void Apply(CandidateSet c)
    {
        c.Softmax();
        double entropy = 0;
        for (int i = 0; i < c.Count; i++)
        {
            double pi = c.Probs[i];
            if (pi > 0) entropy -= pi * Math.Log(pi);
        }
        // Order by |−log p − H| ascending (ties by id), carrying the original index to recover logit and probability.
        Span<ulong> keys = c.Keys.AsSpan(0, c.Count);
        for (int i = 0; i < c.Count; i++)
        {
            double pi = c.Probs[i];
            float shifted = pi > 0 ? (float)Math.Abs(-Math.Log(pi) - entropy) : float.PositiveInfinity;
            keys[i] = CandidateSet.AscendingKey(shifted, i);
        }
        keys.Sort();
        double cum = 0;
        int keep = c.Count;
        for (int r = 0; r < keys.Length; r++)
        {
            cum += c.Probs[(int)(uint)keys[r]];
            if (cum >= p)
            {
                keep = r + 1;
                break;
            }
        }
        // Gather the kept candidates in typical order; Probs is free scratch now, so stash ids and logits there first.
        for (int r = 0; r < keep; r++)
        {
            int src = (int)(uint)keys[r];
            keys[r] = ((ulong)BitConverter.SingleToUInt32Bits(c.Logits[src]) << 32) | (uint)c.Ids[src];
        }
        for (int r = 0; r < keep; r++)
        {
            c.Ids[r] = (int)(uint)keys[r];
            c.Logits[r] = BitConverter.UInt32BitsToSingle((uint)(keys[r] >> 32));
        }
        c.Count = keep;
        c.Sorted = false;
    }
}

internal sealed class TemperatureStage(float temperature) : SamplerStage
{
    public override void Apply(CandidateSet c)
    {
        float inv = 1f / temperature;
        for (int i = 0; i < c.Count; i++) c.Logits[i] *= inv;
    }
}
