using System.Text;

namespace Fathom.Tests.Models;

/// <summary>Builds small GGUF v3 images in memory (metadata + F32 tensors) for model tests.</summary>
internal sealed class TestGguf
{
    private readonly List<(string Key, uint Type, Action<BinaryWriter> Write)> _kv = [];
    private readonly List<(string Name, long[] Dims, float[] Data)> _tensors = [];

    public TestGguf Set(string key, string value) => Add(key, 8, w => WriteString(w, value));
    public TestGguf Set(string key, uint value) => Add(key, 4, w => w.Write(value));
    public TestGguf Set(string key, float value) => Add(key, 6, w => w.Write(value));

    public TestGguf Tensor(string name, float[] data, params long[] dims)
    {
        _tensors.Add((name, dims, data));
        return this;
    }

    public bool Remove(string name) => _tensors.RemoveAll(t => t.Name == name) > 0;

    private TestGguf Add(string key, uint type, Action<BinaryWriter> write)
    {
        _kv.RemoveAll(k => k.Key == key);
        _kv.Add((key, type, write));
        return this;
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(0x46554747u);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_kv.Count);
        foreach (var (key, type, write) in _kv)
        {
            WriteString(w, key);
            w.Write(type);
            write(w);
        }
        long offset = 0;
        foreach (var (name, dims, data) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (long d in dims)
                w.Write((ulong)d);
            w.Write(0u); // F32
            w.Write((ulong)offset);
            offset += (data.Length * 4 + 31) / 32 * 32;
        }
        Pad(w);
        foreach (var (_, _, data) in _tensors)
        {
            foreach (float f in data)
                w.Write(f);
            Pad(w);
        }
        w.Flush();
        return ms.ToArray();
    }

    private static void Pad(BinaryWriter w)
    {
        while (w.BaseStream.Position % 32 != 0)
            w.Write((byte)0);
    }

    /// <summary>
    /// A random llama-family model: hd = embd / heads unless keyLength is given; weights ~ N(0, 1/fan_in),
    /// norms ~ 1 + small noise. With experts &gt; 0 every FFN is a MoE of that many experts.
    /// </summary>
    public static TestGguf RandomModel(string arch, int embd = 64, int layers = 2, int heads = 4, int kvHeads = 1,
        int ff = 96, int vocab = 48, int experts = 0, int used = 0, int seed = 7, int keyLength = 0)
    {
        var rng = new Random(seed);
        int hd = keyLength > 0 ? keyLength : embd / heads;
        var g = new TestGguf()
            .Set("general.architecture", arch)
            .Set($"{arch}.vocab_size", (uint)vocab)
            .Set($"{arch}.context_length", 256u)
            .Set($"{arch}.embedding_length", (uint)embd)
            .Set($"{arch}.block_count", (uint)layers)
            .Set($"{arch}.feed_forward_length", (uint)ff)
            .Set($"{arch}.attention.head_count", (uint)heads)
            .Set($"{arch}.attention.head_count_kv", (uint)kvHeads)
            .Set($"{arch}.attention.key_length", (uint)hd)
            .Set($"{arch}.attention.value_length", (uint)hd)
            .Set($"{arch}.rope.dimension_count", (uint)hd)
            .Set($"{arch}.rope.freq_base", 10000f)
            .Set($"{arch}.attention.layer_norm_rms_epsilon", 1e-5f);
        if (experts > 0)
        {
            g.Set($"{arch}.expert_count", (uint)experts).Set($"{arch}.expert_used_count", (uint)used)
                .Set($"{arch}.expert_feed_forward_length", (uint)ff);
        }
        float[] M(long rows, long cols, long n = 1)
        {
            var a = new float[rows * cols * n];
            double s = 1 / Math.Sqrt(cols);
            for (int i = 0; i < a.Length; i++)
                a[i] = (float)(Normal(rng) * s);
            return a;
        }
        float[] N(int n)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++)
                a[i] = (float)(1 + 0.05 * Normal(rng));
            return a;
        }
        g.Tensor("token_embd.weight", M(vocab, embd), embd, vocab);
        for (int l = 0; l < layers; l++)
        {
            string b = $"blk.{l}.";
            g.Tensor(b + "attn_norm.weight", N(embd), embd);
            g.Tensor(b + "attn_q.weight", M(heads * hd, embd), embd, heads * hd);
            g.Tensor(b + "attn_k.weight", M(kvHeads * hd, embd), embd, kvHeads * hd);
            g.Tensor(b + "attn_v.weight", M(kvHeads * hd, embd), embd, kvHeads * hd);
            if (arch == "qwen2")
            {
                g.Tensor(b + "attn_q.bias", N(heads * hd), heads * hd);
                g.Tensor(b + "attn_k.bias", N(kvHeads * hd), kvHeads * hd);
                g.Tensor(b + "attn_v.bias", N(kvHeads * hd), kvHeads * hd);
            }
            if (arch is "qwen3" or "qwen3moe")
            {
                g.Tensor(b + "attn_q_norm.weight", N(hd), hd);
                g.Tensor(b + "attn_k_norm.weight", N(hd), hd);
            }
            g.Tensor(b + "attn_output.weight", M(embd, heads * hd), heads * hd, embd);
            g.Tensor(b + "ffn_norm.weight", N(embd), embd);
            if (experts > 0)
            {
                g.Tensor(b + "ffn_gate_inp.weight", M(experts, embd), embd, experts);
                g.Tensor(b + "ffn_gate_exps.weight", M(ff, embd, experts), embd, ff, experts);
                g.Tensor(b + "ffn_up_exps.weight", M(ff, embd, experts), embd, ff, experts);
                g.Tensor(b + "ffn_down_exps.weight", M(embd, ff, experts), ff, embd, experts);
            }
            else
            {
                g.Tensor(b + "ffn_gate.weight", M(ff, embd), embd, ff);
                g.Tensor(b + "ffn_up.weight", M(ff, embd), embd, ff);
                g.Tensor(b + "ffn_down.weight", M(embd, ff), ff, embd);
            }
        }
        g.Tensor("output_norm.weight", N(embd), embd);
        g.Tensor("output.weight", M(vocab, embd), embd, vocab);
        return g;
    }

    public float[] Data(string name) => _tensors.First(t => t.Name == name).Data;

    private static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
