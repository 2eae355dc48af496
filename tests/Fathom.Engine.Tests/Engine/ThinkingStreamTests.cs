using Fathom.Engine;
using Fathom.Gguf;
using Fathom.Templates;
using Fathom.Tokenization;

namespace Fathom.Engine.Tests.Engine;

/// <summary>The engine's stream splits thinking from the answer and enforces the thinking budget.</summary>
public class ThinkingStreamTests
{
    /// <summary>Emits a fixed token script, one token per output position, then end-of-generation.</summary>
    private sealed class ScriptRunner(int[] script, int eog) : ISequenceRunner
    {
        private readonly float[] _logits = new float[512];

        public int VocabSize => 512;
        public int Attach(Sequence s, int cached) => cached;
        public void Release(Sequence s, bool keep)
        {
        }

        public ReadOnlySpan<float> Forward(IReadOnlyList<(Sequence Sequence, int Tokens)> batch)
        {
            var (s, n) = batch[0];
            Assert.Single(batch);
            int i = s.Computed + n - s.PromptLength;
            Array.Clear(_logits);
            _logits[i < script.Length ? script[i] : eog] = 1;
            return _logits;
        }

        public void Dropped(int page)
        {
        }

        public void Dispose()
        {
        }
    }

    private static async Task<(string Text, string Thinking, GenerationUpdate Final)> Run(string script, int? budget)
    {
        Tokenizer tok;
        using (var gguf = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf")))
            tok = Tokenizer.FromGguf(gguf);
        var template = ChatTemplate.Parse("{% for m in messages %}{{ m.content }}{% endfor %}{# <think> </think> #}");
        using var engine = new InferenceEngine(new ScriptRunner(tok.Encode(script, addSpecial: false), tok.Eos), tok, template, new EngineOptions { PageSize = 8 }, 256);
        string text = "", thinking = "";
        GenerationUpdate? final = null;
        await foreach (var u in engine.Submit(new GenerationRequest { PromptTokens = [1, 2, 3], MaxTokens = 100, ThinkingBudget = budget }, TestContext.Current.CancellationToken))
        {
            text += u.Text;
            thinking += u.Thinking;
            final = u;
        }
        return (text, thinking, final!);
    }

    [Fact]
    public async Task Thinking_and_answer_arrive_in_separate_fields()
    {
        var (text, thinking, final) = await Run("<think>weigh it</think>the answer", null);
        Assert.Equal("weigh it", thinking);
        Assert.Equal("the answer", text);
        Assert.Equal(StopReason.EndOfGeneration, final.StopReason);
    }

    [Fact]
    public async Task A_spent_budget_closes_the_thinking_block()
    {
        var (_, thinking, _) = await Run("<think>a long long long deliberation</think>x", 3);
        var (_, full, _) = await Run("<think>a long long long deliberation</think>x", null);
        Assert.True(thinking.Length < full.Length, $"'{thinking}' vs '{full}'");
        Assert.StartsWith(thinking, full, StringComparison.Ordinal);
    }
}
