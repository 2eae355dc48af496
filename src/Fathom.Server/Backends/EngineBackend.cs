using System.Runtime.CompilerServices;
using Fathom.Engine;
using Fathom.Sampling;
using Fathom.Templates;

namespace Fathom.Server.Backends;

/// <summary>Serves one <see cref="InferenceEngine"/> through the HTTP surfaces.</summary>
public sealed class EngineBackend : IChatBackend
{
    private readonly InferenceEngine _engine;
    private readonly ServedModel _model;

    public EngineBackend(InferenceEngine engine, string modelId, string displayName, DateTimeOffset created)
    {
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        _model = new ServedModel(modelId, displayName, created, engine.ContextLength, engine.ContextLength);
    }

    public IReadOnlyList<ServedModel> Models => [_model];

    public int CountTokens(ServedModel model, ChatPrompt prompt) => Render(prompt).Length;

    public async IAsyncEnumerable<ChatUpdate> GenerateAsync(ServedModel model, ChatPrompt prompt, GenerationSettings settings, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int[] tokens = Render(prompt);
        var request = new GenerationRequest
        {
            PromptTokens = tokens,
            MaxTokens = settings.MaxTokens,
            ThinkingBudget = settings.Thinking ? settings.MaxTokens : null,
            Sampling = new SamplingOptions
            {
                Temperature = settings.Temperature ?? 1f,
                TopK = settings.TopK ?? 0,
                TopP = settings.TopP ?? 1f,
                Seed = settings.Seed is { } seed ? unchecked((ulong)seed) : null,
            },
        };
        IAsyncEnumerable<GenerationUpdate> stream;
        try
        {
            stream = _engine.Submit(request, cancellationToken);
        }
        catch (EngineOverloadedException ex)
        {
            throw new ApiException(529, "Overloaded: " + ex.Message);
        }
        catch (ArgumentException ex)
        {
            throw ApiException.Invalid(ex.Message);
        }
        // Cached tokens are only known at the end; the prompt update reports the full prompt as uncached.
        yield return new ChatUpdate(ChatUpdateKind.Prompt, "", tokens.Length, 0, 0);
        int output = 0;
        await foreach (var u in stream.WithCancellation(cancellationToken))
        {
            if (!u.IsFinal)
                output++;
            if (u.Thinking.Length > 0)
                yield return new ChatUpdate(ChatUpdateKind.Thinking, u.Thinking, tokens.Length, 0, output);
            if (u.Text.Length > 0)
                yield return new ChatUpdate(ChatUpdateKind.Text, u.Text, tokens.Length, 0, output);
            if (u.IsFinal)
            {
                var usage = u.Usage;
                var finish = u.StopReason switch
                {
                    StopReason.MaxTokens => FinishReason.MaxTokens,
                    StopReason.ContextLength => FinishReason.ContextFull,
                    _ => FinishReason.EndOfTurn,
                };
                yield return new ChatUpdate(ChatUpdateKind.Finished, "", usage?.InputTokens ?? tokens.Length, usage?.CachedInputTokens ?? 0, usage?.OutputTokens ?? output, finish);
                yield break;
            }
        }
    }

    /// <summary>
    /// Renders with the model's template; a final assistant turn is appended after the generation prompt
    /// (prefill), and mid-conversation system turns fold into the first one when the template rejects them.
    /// </summary>
    private int[] Render(ChatPrompt prompt)
    {
        var turns = prompt.Turns;
        string? prefill = null;
        if (prompt.EndsWithPrefill)
        {
            prefill = turns[^1].Content;
            turns = [.. turns.Take(turns.Count - 1)];
        }
        var messages = turns.Select(t => new EngineMessage(t.Role, t.Content)).ToList();
        int[] ids;
        try
        {
            ids = _engine.RenderPrompt(messages);
        }
        catch (TemplateException) when (messages.Skip(1).Any(m => m.Role == "system"))
        {
            string system = string.Join("\n\n", messages.Where(m => m.Role == "system").Select(m => m.Content));
            ids = _engine.RenderPrompt([new EngineMessage("system", system), .. messages.Where(m => m.Role != "system")]);
        }
        catch (TemplateException ex)
        {
            throw ApiException.Invalid("the model's chat template cannot render this conversation: " + ex.Message);
        }
        if (string.IsNullOrEmpty(prefill))
            return ids;
        return [.. ids, .. _engine.Tokenizer.Encode(prefill, addSpecial: false, parseSpecial: false)];
    }
}
