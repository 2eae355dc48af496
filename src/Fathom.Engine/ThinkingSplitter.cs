using System.Text;

namespace Fathom.Engine;

/// <summary>The markers a model family puts around its reasoning, as they appear in decoded text.</summary>
/// <param name="Open">Starts a thinking block.</param>
/// <param name="Close">Ends it; the answer follows.</param>
public sealed record ThinkingFormat(string Open, string Close)
{
    /// <summary>Markers that carry no content in text mode and are dropped (gpt-oss's switch to its final channel).</summary>
    public IReadOnlyList<string> Strip { get; init; } = [];

    /// <summary>DeepSeek-R1, Qwen3, QwQ, GLM, Nemotron and most others.</summary>
    public static ThinkingFormat Think { get; } = new("<think>", "</think>");

    /// <summary>Command-R7B / Command-A.</summary>
    public static ThinkingFormat CommandR { get; } = new("<|START_THINKING|>", "<|END_THINKING|>");

    /// <summary>Magistral (Mistral).</summary>
    public static ThinkingFormat Mistral { get; } = new("[THINK]", "[/THINK]");

    /// <summary>ByteDance Seed-OSS.</summary>
    public static ThinkingFormat Seed { get; } = new("<seed:think>", "</seed:think>");

    /// <summary>gpt-oss (harmony): the analysis channel is thinking; the final channel is the answer.</summary>
    public static ThinkingFormat Harmony { get; } = new("<|channel|>analysis<|message|>", "<|end|>")
    {
        Strip = ["<|start|>assistant", "<|channel|>final<|message|>", "<|return|>"],
    };

    /// <summary>The known formats, most specific first.</summary>
    public static IReadOnlyList<ThinkingFormat> Known { get; } = [Harmony, CommandR, Seed, Mistral, Think];

    /// <summary>The format whose markers a chat template mentions, or null when it has no thinking markers.</summary>
    public static ThinkingFormat? Detect(string chatTemplate)
    {
        ArgumentNullException.ThrowIfNull(chatTemplate);
        foreach (var f in Known)
        {
            if (chatTemplate.Contains(f.Open, StringComparison.Ordinal) && chatTemplate.Contains(f.Close, StringComparison.Ordinal))
                return f;
        }
        return null;
    }
}

/// <summary>A run of streamed output that is either reasoning or answer text.</summary>
public readonly record struct ThinkingPart(bool IsThinking, string Text);

/// <summary>What the engine should do after the last token (see <see cref="ThinkingSplitter.Decision"/>).</summary>
public enum ThinkingDecision
{
    /// <summary>Keep sampling.</summary>
    Continue,

    /// <summary>The thinking budget is spent: append the tokens of <see cref="ThinkingSplitter.CloseText"/> to the
    /// sequence (without sampling them), push that text here, and continue sampling the answer.</summary>
    InjectClose,
}

/// <summary>
/// Splits a model's streamed text into thinking and answer parts. Markers (and whitespace touching them) never
/// reach the output; a partial marker at the end of a chunk is held back until the next chunk decides it, so the
/// result does not depend on how the stream is chunked. Start in thinking mode when the prompt already opened the
/// block (<see cref="PromptOpensThinking"/>). Not thread-safe; one per sequence.
/// </summary>
public sealed class ThinkingSplitter
{
    private readonly StringBuilder _held = new();
    private readonly string[] _textMarkers;
    private readonly string[] _thinkingMarkers;
    private bool _skipWhitespace;

    public ThinkingSplitter(ThinkingFormat format, bool startInThinking = false, int? thinkingBudget = null)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (string.IsNullOrEmpty(format.Open) || string.IsNullOrEmpty(format.Close))
            throw new ArgumentException("thinking markers must be non-empty", nameof(format));
        if (thinkingBudget < 0) throw new ArgumentOutOfRangeException(nameof(thinkingBudget), thinkingBudget, "the thinking budget must be ≥ 0 tokens");
        Format = format;
        InThinking = startInThinking;
        _skipWhitespace = startInThinking;
        ThinkingBudget = thinkingBudget;
        _textMarkers = [format.Open, .. format.Strip.Where(s => !string.IsNullOrEmpty(s))];
        _thinkingMarkers = [format.Close];
    }

    public ThinkingFormat Format { get; }

    /// <summary>True while the stream is inside a thinking block.</summary>
    public bool InThinking { get; private set; }

    /// <summary>The most thinking tokens allowed, or null for no limit.</summary>
    public int? ThinkingBudget { get; }

    /// <summary>Tokens pushed while in thinking mode.</summary>
    public int ThinkingTokens { get; private set; }

    /// <summary>The text to inject when <see cref="Decision"/> says so.</summary>
    public string CloseText => Format.Close;

    /// <summary><see cref="ThinkingDecision.InjectClose"/> when still thinking and the budget is spent.</summary>
    public ThinkingDecision Decision =>
        InThinking && ThinkingBudget is int budget && ThinkingTokens >= budget ? ThinkingDecision.InjectClose : ThinkingDecision.Continue;

    /// <summary>True when a rendered prompt ends inside an open thinking block (the template opened it), so generation starts in thinking mode.</summary>
    public static bool PromptOpensThinking(string prompt, ThinkingFormat format)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(format);
        int open = prompt.LastIndexOf(format.Open, StringComparison.Ordinal);
        return open >= 0 && prompt.LastIndexOf(format.Close, StringComparison.Ordinal) < open;
    }

    /// <summary>Adds the decoded text of <paramref name="tokens"/> tokens and appends the finished parts to <paramref name="output"/>.</summary>
    public void Push(ReadOnlySpan<char> text, ICollection<ThinkingPart> output, int tokens = 1)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (InThinking) ThinkingTokens += tokens;
        _held.Append(text);
        while (true)
        {
            if (_skipWhitespace)
            {
                int ws = 0;
                while (ws < _held.Length && char.IsWhiteSpace(_held[ws])) ws++;
                _held.Remove(0, ws);
                if (_held.Length == 0) return;
                _skipWhitespace = false;
            }
            string held = _held.ToString();
            var markers = InThinking ? _thinkingMarkers : _textMarkers;
            int at = -1;
            string? found = null;
            foreach (string m in markers)
            {
                int i = held.IndexOf(m, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at))
                {
                    at = i;
                    found = m;
                }
            }
            if (found is null)
            {
                int keep = HoldFrom(held, markers);
                while (keep > 0 && char.IsWhiteSpace(held[keep - 1])) keep--;
                Emit(output, held.AsSpan(0, keep));
                _held.Remove(0, keep);
                return;
            }
            Emit(output, held.AsSpan(0, at).TrimEnd());
            _held.Remove(0, at + found.Length);
            if (InThinking) InThinking = false;
            else if (found == Format.Open) InThinking = true;
            _skipWhitespace = true;
        }
    }

    /// <summary>Releases held text at the end of the stream.</summary>
    public void Flush(ICollection<ThinkingPart> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!_skipWhitespace) Emit(output, _held.ToString());
        _held.Clear();
    }

    private void Emit(ICollection<ThinkingPart> output, ReadOnlySpan<char> text)
    {
        if (!text.IsEmpty) output.Add(new ThinkingPart(InThinking, text.ToString()));
    }

    private static int HoldFrom(string text, string[] markers)
    {
        int longest = 0;
        foreach (string m in markers) longest = Math.Max(longest, m.Length - 1);
        for (int start = Math.Max(0, text.Length - longest); start < text.Length; start++)
        {
            ReadOnlySpan<char> tail = text.AsSpan(start);
            foreach (string m in markers)
                if (m.Length > tail.Length && m.AsSpan().StartsWith(tail, StringComparison.Ordinal)) return start;
        }
        return text.Length;
    }
}
