using System.Runtime.CompilerServices;
using Fathom.Tools;

namespace Fathom.Server.Tests;

/// <summary>
/// A deterministic backend for protocol tests: one token per whitespace-separated word, a scripted
/// reply, optional thinking, cached tokens and failures on demand.
/// </summary>
internal sealed class FakeBackend : IChatBackend
{
    public const string ModelId = "fake-model";

    public string Reply { get; set; } = "Hello from the fake model .";
    public string ThinkingText { get; set; } = "Let me think about it .";
    public int CachedTokens { get; set; }
    public int ContextLength { get; set; } = 200;
    public int MaxOutputTokens { get; set; } = 64;

    /// <summary>Pause before each output token (slow generations for cancel and restart tests).</summary>
    public TimeSpan TokenDelay { get; set; }

    /// <summary>Generations started so far.</summary>
    public int Generations => _generations;

    private int _generations;

    /// <summary>The tool-call syntax the scripted reply is written in.</summary>
    public ToolCallFormat ToolCallFormat { get; set; } = ToolCallFormat.Hermes;

    /// <summary>Throw this before the first update (e.g. overload).</summary>
    public Exception? FailBeforeStart { get; set; }

    /// <summary>Throw after this many output tokens.</summary>
    public int? FailAfterTokens { get; set; }

    public ChatPrompt? LastPrompt { get; private set; }
    public GenerationSettings? LastSettings { get; private set; }

    public IReadOnlyList<ServedModel> Models =>
        [new ServedModel(ModelId, "Fake Model", new DateTimeOffset(2026, 11, 20, 9, 14, 0, TimeSpan.Zero), ContextLength, MaxOutputTokens) { ToolCallFormat = ToolCallFormat }];

    /// <summary>Words of every turn, tool call and tool definition (a stand-in for a template that renders them all).</summary>
    public int CountTokens(ServedModel model, ChatPrompt prompt) =>
        prompt.Turns.Sum(t => 3 + Count(t.Content) + (t.ToolCalls?.Sum(c => 2 + Count(c.Arguments)) ?? 0))
        + prompt.Tools.Sum(t => 4 + Count(t.Description) + Count(t.Parameters?.GetRawText()));

    private static int Count(string? text) => text?.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length ?? 0;

    public async IAsyncEnumerable<ChatUpdate> GenerateAsync(ServedModel model, ChatPrompt prompt, GenerationSettings settings, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        LastPrompt = prompt;
        LastSettings = settings;
        Interlocked.Increment(ref _generations);
        if (FailBeforeStart is { } fail)
            throw fail;
        int input = CountTokens(model, prompt);
        int cached = Math.Min(CachedTokens, input);
        yield return new ChatUpdate(ChatUpdateKind.Prompt, "", input, cached, 0);
        int output = 0;
        var tokens = new List<(ChatUpdateKind Kind, string Text)>();
        if (settings.Thinking)
            tokens.AddRange(Words(ThinkingText).Select(w => (ChatUpdateKind.Thinking, w)));
        tokens.AddRange(Words(Reply).Select(w => (ChatUpdateKind.Text, w)));
        foreach (var (kind, text) in tokens)
        {
            if (TokenDelay > TimeSpan.Zero)
                await Task.Delay(TokenDelay, cancellationToken);
            else
                await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            if (output == settings.MaxTokens)
            {
                yield return new ChatUpdate(ChatUpdateKind.Finished, "", input, cached, output, FinishReason.MaxTokens);
                yield break;
            }
            if (output == FailAfterTokens)
                throw new InvalidOperationException("fake failure mid-generation");
            output++;
            yield return new ChatUpdate(kind, text, input, cached, output);
        }
        yield return new ChatUpdate(ChatUpdateKind.Finished, "", input, cached, output, FinishReason.EndOfTurn);
    }

    private static IEnumerable<string> Words(string text)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < words.Length; i++)
            yield return i == 0 ? words[i] : " " + words[i];
    }
}
