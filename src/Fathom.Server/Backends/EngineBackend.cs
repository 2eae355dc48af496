using System.Runtime.CompilerServices;
using Fathom.Engine;
using Fathom.Sampling;
using Fathom.Templates;
using Fathom.Tools;

namespace Fathom.Server.Backends;

/// <summary>Serves one <see cref="InferenceEngine"/> through the HTTP surfaces.</summary>
public sealed class EngineBackend : IChatBackend
{
    private readonly InferenceEngine _engine;
    private ServedModel _model;

    public EngineBackend(InferenceEngine engine, string modelId, string displayName, DateTimeOffset created)
    {
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        // A template that cannot show tools is prompted with the Hermes fallback, so its output is read as Hermes.
        var format = engine.Template is { } t && ToolTemplateData.SupportsTools(t.Source)
            ? ToolCallFormats.Detect(t.Source, engine.ModelConfig?.Architecture)
            : ToolCallFormat.Hermes;
        _model = new ServedModel(modelId, displayName, created, engine.ContextLength, engine.ContextLength) { ToolCallFormat = format };
        _stringArguments = engine.Template is { } template && ToolTemplateData.WantsStringArguments(template);
    }

    private readonly bool _stringArguments;

    /// <summary>Overrides the tool-call format detected from the chat template.</summary>
    public EngineBackend WithToolCallFormat(ToolCallFormat format)
    {
        _model = _model with { ToolCallFormat = format };
        return this;
    }

    /// <summary>Marked prefixes shorter than this are processed normally and reported as no cache write (Anthropic's per-model minimum).</summary>
    public int MinCacheableTokens { get; init; } = 1024;

    /// <summary>The engine behind this backend (metrics read its queue and KV pool).</summary>
    public InferenceEngine Engine => _engine;

    public IReadOnlyList<ServedModel> Models => [_model];

    public int CountTokens(ServedModel model, ChatPrompt prompt) => Render(prompt, null).Length;

    public async IAsyncEnumerable<ChatUpdate> GenerateAsync(ServedModel model, ChatPrompt prompt, GenerationSettings settings, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int[] tokens = Render(prompt, settings.ForcedPrefix);
        var breakpoints = Breakpoints(tokens, settings.CacheBreakpoints);
        var request = new GenerationRequest
        {
            PromptTokens = tokens,
            // Tool-call markers are often control tokens: the server's parser must see them.
            RenderSpecialTokens = prompt.Tools.Count > 0,
            Grammar = settings.Grammar,
            MaxTokens = settings.MaxTokens,
            ThinkingBudget = settings.Thinking ? settings.MaxTokens : null,
            Stop = settings.Stop,
            Tenant = settings.Tenant,
            CacheBreakpoints = breakpoints,
            Sampling = new SamplingOptions
            {
                Temperature = settings.Temperature ?? 1f,
                TopK = settings.TopK ?? 0,
                TopP = settings.TopP ?? 1f,
                MinP = settings.MinP ?? 0f,
                PresencePenalty = settings.PresencePenalty ?? 0f,
                FrequencyPenalty = settings.FrequencyPenalty ?? 0f,
                RepetitionPenalty = settings.RepetitionPenalty ?? 1f,
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
                    StopReason.StopSequence => FinishReason.StopSequence,
                    _ => FinishReason.EndOfTurn,
                };
                int cached = usage?.CachedInputTokens ?? 0;
                var (write5m, write1h) = CacheWrites(breakpoints, tokens.Length, cached);
                yield return new ChatUpdate(ChatUpdateKind.Finished, "", usage?.InputTokens ?? tokens.Length, cached, usage?.OutputTokens ?? output, finish)
                {
                    StopSequence = u.StopSequence,
                    CacheWrite5m = write5m,
                    CacheWrite1h = write1h,
                    PrefillTime = usage?.Prefill ?? TimeSpan.Zero,
                    DecodeTime = usage?.Decode ?? TimeSpan.Zero,
                };
                yield break;
            }
        }
    }

    /// <summary>
    /// Token counts of the marked prefixes: each prefix is rendered on its own and cut to the part it
    /// shares with the full prompt, so a pin never covers tokens the prompt does not have.
    /// </summary>
    private List<CacheBreakpoint> Breakpoints(int[] tokens, IReadOnlyList<PromptCacheBreakpoint> marks)
    {
        var list = new List<CacheBreakpoint>(marks.Count);
        foreach (var mark in marks)
        {
            int count = tokens.Length;
            if (mark.Prefix is { } prefix)
            {
                int[] prefixTokens;
                try
                {
                    prefixTokens = Render(prefix, null);
                }
                catch (ApiException)
                {
                    continue;
                }
                count = tokens.AsSpan().CommonPrefixLength(prefixTokens);
            }
            if (count >= MinCacheableTokens && count > 0)
                list.Add(new CacheBreakpoint(count, mark.Ttl));
        }
        return list;
    }

    /// <summary>Marked tokens not read from the cache are written to it; the part under a 1-hour mark is billed as 1h.</summary>
    private static (int FiveMinutes, int OneHour) CacheWrites(List<CacheBreakpoint> marks, int promptTokens, int cached)
    {
        int all = 0, hour = 0;
        foreach (var m in marks)
        {
            int count = m.TokenCount < 0 ? promptTokens : m.TokenCount;
            all = Math.Max(all, count);
            if (m.Ttl >= CacheBreakpoint.LongTtl)
                hour = Math.Max(hour, count);
        }
        int write = Math.Max(0, all - cached);
        int write1h = Math.Min(write, Math.Max(0, hour - cached));
        return (write - write1h, write1h);
    }

    /// <summary>
    /// Renders with the model's template, tools and tool turns included; a final assistant turn is appended after the
    /// generation prompt (prefill), then the forced prefix. Mid-conversation system turns fold into the first one when
    /// the template rejects them; a template that cannot show tools gets them written into the text (Hermes format).
    /// </summary>
    private int[] Render(ChatPrompt prompt, string? forcedPrefix)
    {
        var template = _engine.Template ?? throw new InvalidOperationException("the model has no chat template");
        var turns = prompt.Turns;
        string? prefill = null;
        if (prompt.EndsWithPrefill && turns[^1].ToolCalls is null)
        {
            prefill = turns[^1].Content;
            turns = [.. turns.Take(turns.Count - 1)];
        }
        var messages = turns.Select(t => new ToolChatMessage(t.Role, t.Content) { ToolCalls = t.ToolCalls, ToolCallId = t.ToolCallId, ToolName = t.ToolName }).ToList();
        bool structured = prompt.Tools.Count > 0 || messages.Any(m => m.Role == "tool" || m.ToolCalls is not null);
        if (structured && !ToolTemplateData.SupportsTools(template.Source))
            messages = ToolTemplateData.Fallback(messages, prompt.Tools);
        string text;
        try
        {
            text = RenderText(template, messages, prompt.Tools);
        }
        catch (TemplateException) when (messages.Skip(1).Any(m => m.Role == "system"))
        {
            string system = string.Join("\n\n", messages.Where(m => m.Role == "system").Select(m => m.Content));
            text = RenderOrFail(template, [new ToolChatMessage("system", system), .. messages.Where(m => m.Role != "system")], prompt.Tools);
        }
        catch (TemplateException) when (structured)
        {
            // The template has tool support but rejects this history (e.g. one call per turn): show it as text.
            text = RenderOrFail(template, ToolTemplateData.Fallback(messages, prompt.Tools), []);
        }
        catch (TemplateException ex)
        {
            throw ApiException.Invalid("the model's chat template cannot render this conversation: " + ex.Message);
        }
        var tokenizer = _engine.Tokenizer;
        bool hasBos = tokenizer.Bos >= 0 && text.StartsWith(tokenizer.TokenText(tokenizer.Bos), StringComparison.Ordinal);
        int[] ids = tokenizer.Encode(text, addSpecial: !hasBos, parseSpecial: true);
        if (!string.IsNullOrEmpty(prefill))
            ids = [.. ids, .. tokenizer.Encode(prefill, addSpecial: false, parseSpecial: false)];
        if (!string.IsNullOrEmpty(forcedPrefix))
            ids = [.. ids, .. tokenizer.Encode(forcedPrefix, addSpecial: false, parseSpecial: true)];
        return ids;
    }

    private string RenderOrFail(ChatTemplate template, List<ToolChatMessage> messages, IReadOnlyList<ToolDefinition> tools)
    {
        try
        {
            return RenderText(template, messages, tools);
        }
        catch (TemplateException ex)
        {
            throw ApiException.Invalid("the model's chat template cannot render this conversation: " + ex.Message);
        }
    }

    private string RenderText(ChatTemplate template, List<ToolChatMessage> messages, IReadOnlyList<ToolDefinition> tools)
    {
        var tokenizer = _engine.Tokenizer;
        return template.Render(ToolTemplateData.Messages(messages, _stringArguments), new ChatTemplateOptions
        {
            AddGenerationPrompt = true,
            // transformers passes tools=None when there are none.
            Tools = tools.Count > 0 && ToolTemplateData.SupportsTools(template.Source) ? ToolTemplateData.Tools(tools) : null,
            BosToken = tokenizer.Bos >= 0 ? tokenizer.TokenText(tokenizer.Bos) : "",
            EosToken = tokenizer.Eos >= 0 ? tokenizer.TokenText(tokenizer.Eos) : "",
        });
    }
}
