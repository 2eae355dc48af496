using Fathom.Evaluation;
using Fathom.Models;
using Fathom.Tokenization;

namespace Fathom.Tests.Evaluation;

public class KlDivergenceTests
{
    private static readonly PerplexityOptions Options = new() { ContextLength = 64, MaxChunks = 3, Threads = 2 };

    private static (Model Model, int[] Tokens, int Bos) Load(string quant)
    {
        var model = Model.Load(Fixtures.Model($"fathom-code-5m-{quant}.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        string text = File.ReadAllText(Path.Combine(Fixtures.Text, "stdlib-8k.txt"))[..3000];
        return (model, Perplexity.Tokenize(tokenizer, text), Perplexity.ChunkBos(tokenizer));
    }

    private static byte[] SaveBase(string quant)
    {
        var (model, tokens, bos) = Load(quant);
        using (model)
        {
            using var stream = new MemoryStream();
            var saved = LogitsFile.Save(model, tokens, bos, Options, stream);
            Assert.Equal(Perplexity.Evaluate(model, tokens, bos, Options).Value, saved.Value);
            return stream.ToArray();
        }
    }

    private static KlDivergenceResult Compare(string quant, byte[] baseRun)
    {
        var (model, tokens, bos) = Load(quant);
        using (model)
            return KlDivergence.Evaluate(model, tokens, bos, Options, new MemoryStream(baseRun));
    }

    private static readonly Lazy<byte[]> F32Base = new(() => SaveBase("f32"));

    [Fact]
    public void A_model_against_itself_has_zero_kl_and_the_same_top_token_everywhere()
    {
        var kl = Compare("f32", F32Base.Value);
        Assert.Equal(3L * (64 - 1 - 32), kl.Positions);
        Assert.Equal(1.0, kl.SameTop1);
        // The base is stored as f16 log-probabilities, so "zero" is f16 rounding noise: far below any quant's KL.
        Assert.InRange(kl.MeanKl, 0, 1e-5);
        Assert.InRange(kl.MaxKl, 0, 1e-4);
        Assert.Equal(kl.Current.Value, kl.BasePerplexity, 1e-6 * kl.BasePerplexity);
    }

    [Fact]
    public void Coarser_quantization_drifts_further_from_the_f32_base()
    {
        var self = Compare("f32", F32Base.Value);
        var q8 = Compare("q8_0", F32Base.Value);
        var q4 = Compare("q4_k_m", F32Base.Value);
        Assert.True(q8.MeanKl > 10 * self.MeanKl, $"q8_0 KL {q8.MeanKl} vs self {self.MeanKl}");
        Assert.True(q4.MeanKl > q8.MeanKl, $"q4_k_m KL {q4.MeanKl} <= q8_0 KL {q8.MeanKl}");
        Assert.True(q4.MaxKl >= q4.MeanKl && q4.KlUncertainty > 0);
        Assert.True(q4.SameTop1 <= q8.SameTop1 && q8.SameTop1 <= 1);
        Assert.Equal(self.BasePerplexity, q4.BasePerplexity);
    }

    [Fact]
    public void A_base_saved_for_other_inputs_is_a_typed_error()
    {
        var (model, tokens, bos) = Load("f32");
        using (model)
        {
            byte[] good = F32Base.Value;
            Assert.Throws<LogitsFileException>(() => KlDivergence.Evaluate(model, tokens, bos, Options with { ContextLength = 48 }, new MemoryStream(good)));
            Assert.Throws<LogitsFileException>(() => KlDivergence.Evaluate(model, tokens, bos, Options with { MaxChunks = 2 }, new MemoryStream(good)));
            int[] other = (int[])tokens.Clone();
            other[100] = other[100] == 5 ? 6 : 5;
            Assert.Throws<LogitsFileException>(() => KlDivergence.Evaluate(model, other, bos, Options, new MemoryStream(good)));
        }
    }

    [Theory]
    [InlineData(0)]   // magic
    [InlineData(8)]   // version
    [InlineData(12)]  // n_vocab
    [InlineData(16)]  // n_ctx
    [InlineData(24)]  // rows per chunk
    [InlineData(32)]  // token fingerprint
    [InlineData(-1)]  // truncated body
    [InlineData(-2)]  // truncated header
    public void A_corrupt_base_is_a_typed_error(int offset)
    {
        byte[] bad = offset == -1 ? F32Base.Value[..^7] : offset == -2 ? F32Base.Value[..10] : (byte[])F32Base.Value.Clone();
        if (offset >= 0)
            bad[offset] ^= 0x5a;
        var (model, tokens, bos) = Load("f32");
        using (model)
            Assert.Throws<LogitsFileException>(() => KlDivergence.Evaluate(model, tokens, bos, Options, new MemoryStream(bad)));
    }
}
