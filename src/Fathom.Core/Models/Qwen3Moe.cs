namespace Fathom.Models;

/// <summary>Qwen3-MoE: Qwen3's attention; every FFN is a softmax-routed top-k mixture of SwiGLU experts.</summary>
internal sealed class Qwen3Moe : IModelFamily
{
    public string Architecture => "qwen3moe";
    public RopeStyle RopeStyle => RopeStyle.NeoX;

    public LayerWeights BindLayer(WeightBinder w, int il)
    {
        if (!w.Config.IsMoe)
            throw new ModelFormatException($"qwen3moe model has no {Gguf.GgufKeys.Llm.ExpertCount("qwen3moe")}");
        return new()
        {
            AttnNorm = w.Norm(il, "attn_norm"),
            Q = w.Q(il),
            K = w.K(il),
            V = w.V(il),
            QNorm = w.Vector(WeightBinder.Block(il, "attn_q_norm"), w.Config.KeyLength),
            KNorm = w.Vector(WeightBinder.Block(il, "attn_k_norm"), w.Config.KeyLength),
            Output = w.AttnOutput(il),
            FfnNorm = w.Norm(il, "ffn_norm"),
            Router = w.Router(il),
            GateExperts = w.GateExperts(il),
            UpExperts = w.UpExperts(il),
            DownExperts = w.DownExperts(il),
        };
    }

    public void Layer(TransformerBlocks b, LayerWeights w, int il)
    {
        Qwen3.QkNormedAttention(b, w, il);
        b.Norm(w.FfnNorm, "ffn_norm", il);
        b.MoeFfn(w.Router!, w.GateExperts!, w.UpExperts!, w.DownExperts!, il);
        b.Residual("l_out", il);
    }
}
