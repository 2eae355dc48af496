namespace Fathom.Models;

/// <summary>
/// LLaMA 1/2/3 and Mistral: pre-norm blocks, normal (adjacent-pair) RoPE, SwiGLU FFN; with
/// <c>expert_count</c> &gt; 0 the FFN is Mixtral's MoE. Optional llama3 <c>rope_freqs</c>.
/// </summary>
internal sealed class Llama : IModelFamily
{
    public string Architecture => "llama";
    public RopeStyle RopeStyle => RopeStyle.Normal;

    public LayerWeights BindLayer(WeightBinder w, int il) => new()
    {
        AttnNorm = w.Norm(il, "attn_norm"),
        Q = w.Q(il),
        K = w.K(il),
        V = w.V(il),
        Output = w.AttnOutput(il),
        FfnNorm = w.Norm(il, "ffn_norm"),
        Gate = w.Config.IsMoe ? null : w.Gate(il),
        Up = w.Config.IsMoe ? null : w.Up(il),
        Down = w.Config.IsMoe ? null : w.Down(il),
        Router = w.Config.IsMoe ? w.Router(il) : null,
        GateExperts = w.Config.IsMoe ? w.GateExperts(il) : null,
        UpExperts = w.Config.IsMoe ? w.UpExperts(il) : null,
        DownExperts = w.Config.IsMoe ? w.DownExperts(il) : null,
    };

    public void Layer(TransformerBlocks b, LayerWeights w, int il)
    {
        var c = b.Config;
        b.Norm(w.AttnNorm, "attn_norm", il);
        b.ProjectQkv(w.Q, null, w.K, null, w.V, null, il);
        b.Rope(b.Q, c.HeadCount, "Qcur", il);
        b.Rope(b.K, c.HeadCountKv, "Kcur", il);
        b.Attend(il);
        b.AttentionOutput(w.Output, il);
        b.Residual("ffn_inp", il);

        b.Norm(w.FfnNorm, "ffn_norm", il);
        if (c.IsMoe)
            b.MoeFfn(w.Router!, w.GateExperts!, w.UpExperts!, w.DownExperts!, il);
        else
            b.SwiGluFfn(w.Gate!, w.Up!, w.Down!, il);
        b.Residual("l_out", il);
    }
}
