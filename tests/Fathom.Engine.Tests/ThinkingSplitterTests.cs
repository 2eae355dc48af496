using CsCheck;

namespace Fathom.Engine.Tests;

public class ThinkingSplitterTests
{
    private static List<ThinkingPart> Run(ThinkingFormat f, IEnumerable<string> chunks, bool startInThinking = false)
    {
        var s = new ThinkingSplitter(f, startInThinking);
        var parts = new List<ThinkingPart>();
        foreach (string c in chunks) s.Push(c, parts);
        s.Flush(parts);
        return Merge(parts);
    }

    /// <summary>Adjacent parts of the same kind are one logical part; how they were chunked is not part of the result.</summary>
    private static List<ThinkingPart> Merge(List<ThinkingPart> parts)
    {
        var merged = new List<ThinkingPart>();
        foreach (var p in parts)
        {
            if (merged.Count > 0 && merged[^1].IsThinking == p.IsThinking) merged[^1] = p with { Text = merged[^1].Text + p.Text };
            else merged.Add(p);
        }
        return merged;
    }

    private static List<string> Split(string text, int seed)
    {
        var rng = new Random(seed);
        var chunks = new List<string>();
        for (int at = 0; at < text.Length;)
        {
            int len = Math.Min(rng.Next(0, 5), text.Length - at);
            chunks.Add(text.Substring(at, len));
            at += len;
        }
        return chunks;
    }

    private static Gen<string> StreamOf(ThinkingFormat f)
    {
        string[] pieces = [f.Open, f.Close, .. f.Strip, "a", "b", " ", "\n", f.Open[..2], f.Close[..3], "<", "|", "]"];
        return Gen.Int[0, pieces.Length - 1].Array[0, 25].Select(ix => string.Concat(ix.Select(i => pieces[i])));
    }

    public static TheoryData<int> FormatIndexes => [.. Enumerable.Range(0, ThinkingFormat.Known.Count)];

    [Theory]
    [MemberData(nameof(FormatIndexes))]
    public void Every_chunking_of_the_stream_gives_the_same_parts(int format)
    {
        var f = ThinkingFormat.Known[format];
        Gen.Select(StreamOf(f), Gen.Int, Gen.Bool).Sample((text, seed, thinking) =>
        {
            var whole = Run(f, [text], thinking);
            var chunked = Run(f, Split(text, seed), thinking);
            var perChar = Run(f, text.Select(c => c.ToString()), thinking);
            return whole.SequenceEqual(chunked) && whole.SequenceEqual(perChar);
        });
    }

    [Theory]
    [MemberData(nameof(FormatIndexes))]
    public void Markers_never_reach_the_output(int format)
    {
        var f = ThinkingFormat.Known[format];
        Gen.Select(StreamOf(f), Gen.Int).Sample((text, seed) =>
            Run(f, Split(text, seed)).All(p => !p.Text.Contains(f.Open, StringComparison.Ordinal)
                && (!p.IsThinking || !p.Text.Contains(f.Close, StringComparison.Ordinal))
                && p.Text.Length > 0));
    }

    [Fact]
    public void Splits_a_think_block_from_the_answer()
    {
        var parts = Run(ThinkingFormat.Think, Split("<think>\nThe user greets me.\n</think>\n\nHello!", 3));
        Assert.Equal([new ThinkingPart(true, "The user greets me."), new ThinkingPart(false, "Hello!")], parts);
    }

    [Fact]
    public void Starts_in_thinking_when_the_prompt_opened_the_block()
    {
        const string Prompt = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n";
        Assert.True(ThinkingSplitter.PromptOpensThinking(Prompt, ThinkingFormat.Think));
        Assert.False(ThinkingSplitter.PromptOpensThinking(Prompt + "\n</think>\n\n", ThinkingFormat.Think));
        Assert.False(ThinkingSplitter.PromptOpensThinking("<|im_start|>assistant\n", ThinkingFormat.Think));
        var parts = Run(ThinkingFormat.Think, ["Reason", "ing.</th", "ink>", "\n\nAnswer"], startInThinking: true);
        Assert.Equal([new ThinkingPart(true, "Reasoning."), new ThinkingPart(false, "Answer")], parts);
    }

    [Fact]
    public void Splits_gpt_oss_channels()
    {
        const string Stream = "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Answer.<|return|>";
        Assert.Equal([new ThinkingPart(true, "Think."), new ThinkingPart(false, "Answer.")], Run(ThinkingFormat.Harmony, Split(Stream, 9)));
    }

    [Fact]
    public void Splits_command_r_thinking()
    {
        var parts = Run(ThinkingFormat.CommandR, ["<|START_THINKING|>plan<|END_", "THINKING|><|START_RESPONSE|>"]);
        Assert.Equal([new ThinkingPart(true, "plan"), new ThinkingPart(false, "<|START_RESPONSE|>")], parts);
    }

    [Fact]
    public void A_spent_budget_asks_for_the_closing_marker_and_then_continues()
    {
        var s = new ThinkingSplitter(ThinkingFormat.Think, startInThinking: true, thinkingBudget: 3);
        var parts = new List<ThinkingPart>();
        s.Push("a", parts);
        s.Push("b", parts);
        Assert.Equal(ThinkingDecision.Continue, s.Decision);
        s.Push("c", parts);
        Assert.Equal(ThinkingDecision.InjectClose, s.Decision);
        s.Push(s.CloseText, parts, tokens: 2);
        Assert.Equal(ThinkingDecision.Continue, s.Decision);
        Assert.False(s.InThinking);
        s.Push("answer", parts);
        s.Flush(parts);
        Assert.Equal([new ThinkingPart(true, "abc"), new ThinkingPart(false, "answer")], Merge(parts));
        Assert.Equal(5, s.ThinkingTokens); // the injected closing tokens were pushed inside the block
    }

    [Fact]
    public void Detects_the_format_from_real_chat_templates()
    {
        string dir = Path.Combine(Fixtures.Root, "chat-templates", "templates");
        string Template(string name) => File.ReadAllText(Path.Combine(dir, name));
        Assert.Equal(ThinkingFormat.Think, ThinkingFormat.Detect(Template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja")));
        Assert.Equal(ThinkingFormat.CommandR, ThinkingFormat.Detect(Template("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja")));
        Assert.Equal(ThinkingFormat.Harmony, ThinkingFormat.Detect(Template("openai-gpt-oss-120b.jinja")));
        Assert.Null(ThinkingFormat.Detect(Template("CohereForAI-c4ai-command-r-plus-default.jinja")));
        // Every template that names a known pair of markers is detected as one of them.
        foreach (string path in Directory.EnumerateFiles(dir))
        {
            string t = File.ReadAllText(path);
            bool mentions = ThinkingFormat.Known.Any(f => t.Contains(f.Open, StringComparison.Ordinal) && t.Contains(f.Close, StringComparison.Ordinal));
            Assert.Equal(mentions, ThinkingFormat.Detect(t) is not null);
        }
    }

    [Fact]
    public void Bad_arguments_are_typed_errors()
    {
        Assert.Throws<ArgumentException>(() => new ThinkingSplitter(new ThinkingFormat("", "</think>")));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ThinkingSplitter(ThinkingFormat.Think, thinkingBudget: -1));
    }
}
