namespace Fathom.Models;

/// <summary>Qwen3: no biases; each head of q and k is RMS-normed before NeoX RoPE.</summary>
internal sealed class Qwen3 : IModelFamily
{
    public string Architecture => "qwen3";
    public RopeStyle RopeStyle => RopeStyle.NeoX;

    public LayerWeights BindLayer(WeightBinder w, int il) => new()
    {
        AttnNorm = w.Norm(il, "attn_norm"),
        Q = w.Q(il),
        K = w.K(il),
        V = w.V(il),
        QNorm = w.Vector(WeightBinder.Block(il, "attn_q_norm"), w.Config.KeyLength),
        KNorm = w.Vector(WeightBinder.Block(il, "attn_k_norm"), w.Config.KeyLength),
        Output = w.AttnOutput(il),
        FfnNorm = w.Norm(il, "ffn_norm"),
        Gate = w.Gate(il),
        Up = w.Up(il),
        Down = w.Down(il),
    };

    public void Layer(TransformerBlocks b, LayerWeights w, int il)
    {
        QkNormedAttention(b, w, il);
        b.Norm(w.FfnNorm, "ffn_norm", il);
        b.SwiGluFfn(w.Gate!, w.Up!, w.Down!, il);
        b.Residual("l_out", il);
    }

    /// <summary>The Qwen3 attention half-block, shared with <see cref="Qwen3Moe"/>.</summary>
    internal static void QkNormedAttention(TransformerBlocks b, LayerWeights w, int il)
    {
        var c = b.Config;
        b.Norm(w.AttnNorm, "attn_norm", il);
        b.ProjectQkv(w.Q, null, w.K, null, w.V, null, il);
        b.HeadNorm(b.Q, c.HeadCount, w.QNorm!, "Qcur_normed", il);
        b.HeadNorm(b.K, c.HeadCountKv, w.KNorm!, "Kcur_normed", il);
        b.Rope(b.Q, c.HeadCount, "Qcur", il);
        b.Rope(b.K, c.HeadCountKv, "Kcur", il);
        b.Attend(il);
        b.AttentionOutput(w.Output, il);
        b.Residual("ffn_inp", il);
    }
}
