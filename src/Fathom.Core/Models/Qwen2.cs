namespace Fathom.Models;

/// <summary>Qwen2: llama's block with biases on q/k/v and NeoX RoPE; usually tied embeddings.</summary>
internal sealed class Qwen2 : IModelFamily
{
    public string Architecture => "qwen2";
    public RopeStyle RopeStyle => RopeStyle.NeoX;

    public LayerWeights BindLayer(WeightBinder w, int il) => new()
    {
        AttnNorm = w.Norm(il, "attn_norm"),
        Q = w.Q(il),
        K = w.K(il),
        V = w.V(il),
        QBias = w.Vector($"blk.{il}.attn_q.bias", w.Config.HeadCount * w.Config.KeyLength),
        KBias = w.Vector($"blk.{il}.attn_k.bias", w.Config.HeadCountKv * w.Config.KeyLength),
        VBias = w.Vector($"blk.{il}.attn_v.bias", w.Config.HeadCountKv * w.Config.ValueLength),
        Output = w.AttnOutput(il),
        FfnNorm = w.Norm(il, "ffn_norm"),
        Gate = w.Gate(il),
        Up = w.Up(il),
        Down = w.Down(il),
    };

    public void Layer(TransformerBlocks b, LayerWeights w, int il)
    {
        var c = b.Config;
        b.Norm(w.AttnNorm, "attn_norm", il);
        b.ProjectQkv(w.Q, w.QBias, w.K, w.KBias, w.V, w.VBias, il);
        b.Rope(b.Q, c.HeadCount, "Qcur", il);
        b.Rope(b.K, c.HeadCountKv, "Kcur", il);
        b.Attend(il);
        b.AttentionOutput(w.Output, il);
        b.Residual("ffn_inp", il);

        b.Norm(w.FfnNorm, "ffn_norm", il);
        b.SwiGluFfn(w.Gate!, w.Up!, w.Down!, il);
        b.Residual("l_out", il);
    }
}
