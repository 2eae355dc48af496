using System.Runtime.CompilerServices;
using Fathom.Tools;

namespace Fathom.Server;

internal enum StopKind
{
    EndOfTurn,
    MaxTokens,
    ContextFull,
    StopSequence,

    /// <summary>The turn ended with tool calls.</summary>
    ToolUse,
}

/// <summary>A backend update after stop sequences are applied; <see cref="Done"/> marks the last one.</summary>
internal readonly record struct RunUpdate(ChatUpdateKind Kind, string Text, int InputTokens, int CachedInputTokens, int OutputTokens, StopKind Stop = StopKind.EndOfTurn, string? StopSequence = null)
{
    public bool Done => Kind == ChatUpdateKind.Finished;

    public int CacheWrite5m { get; init; }
    public int CacheWrite1h { get; init; }
    public int CacheWrite => CacheWrite5m + CacheWrite1h;

    /// <summary>For tool-call updates: which call of the turn (from 0).</summary>
    public int ToolIndex { get; init; }
}

/// <summary>
/// Runs one generation for either API: applies stop sequences, splits tool calls out of the text when the request
/// has tools (<see cref="ToolPlan"/>), and turns the backend's finish into a stop kind.
/// </summary>
internal static class Generation
{
    public static async IAsyncEnumerable<RunUpdate> RunAsync(IChatBackend backend, ServedModel model, ChatPrompt prompt, GenerationSettings settings,
        IReadOnlyList<string> stops, [EnumeratorCancellation] CancellationToken cancellationToken, ToolPlan? tools = null)
    {
        var filter = new StopSequenceFilter(stops);
        var parser = tools is null ? null : new ToolCallParser(tools.Format, tools.Tools, tools.HoldCalls);
        var pending = new List<ToolCallEvent>();
        if (tools is not null && (tools.Prefix is { Length: > 0 } || tools.Grammar is not null))
        {
            settings = settings with { ForcedPrefix = tools.Prefix, Grammar = tools.Grammar ?? settings.Grammar };
            if (tools.Prefix is { Length: > 0 } prefix)
                pending.AddRange(parser!.Push(prefix));
        }
        int input = 0, cached = 0, output = 0;
        bool finished = false;
        if (stops.Count > 0)
            settings = settings with { Stop = stops };
        var accounting = RequestAccounting.Current;
        if (accounting is not null)
        {
            accounting.Model = model.Id;
            if (accounting.CapturePrompt)
                accounting.Prompt ??= AuditLog.PromptText(prompt);
        }
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        bool first = true;
        await foreach (var u in backend.GenerateAsync(model, prompt, settings, cancellationToken).WithCancellation(cancellationToken))
        {
            input = u.InputTokens;
            cached = u.CachedInputTokens;
            output = u.OutputTokens;
            if (first && u.Kind is ChatUpdateKind.Text or ChatUpdateKind.Thinking)
            {
                first = false;
                accounting?.Metrics?.FirstToken(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            }
            if (u.Kind == ChatUpdateKind.Finished)
            {
                accounting?.Add(input, cached, output);
                accounting?.Metrics?.Finished(input, cached, output, u.PrefillTime, u.DecodeTime);
            }
            switch (u.Kind)
            {
                case ChatUpdateKind.Prompt:
                    yield return new RunUpdate(ChatUpdateKind.Prompt, "", input, cached, output);
                    foreach (var e in pending)
                        yield return ToolUpdate(e, input, cached, output);
                    pending.Clear();
                    break;
                case ChatUpdateKind.Thinking:
                    if (u.Text.Length > 0)
                        yield return new RunUpdate(ChatUpdateKind.Thinking, u.Text, input, cached, output);
                    break;
                case ChatUpdateKind.Text:
                    string emit = filter.Push(u.Text, out string? matched);
                    if (parser is null)
                    {
                        if (emit.Length > 0)
                            yield return new RunUpdate(ChatUpdateKind.Text, emit, input, cached, output);
                    }
                    else
                    {
                        IReadOnlyList<ToolCallEvent> events = matched is null ? parser.Push(emit) : [.. parser.Push(emit), .. parser.Complete()];
                        foreach (var e in events)
                        {
                            yield return ToolUpdate(e, input, cached, output);
                            // One call only: the turn ends as soon as it is complete.
                            if (e.Kind == ToolCallEventKind.CallEnd && !tools!.Parallel)
                            {
                                accounting?.Add(input, cached, output);
                                accounting?.Metrics?.Finished(input, cached, output, TimeSpan.Zero, TimeSpan.Zero);
                                yield return new RunUpdate(ChatUpdateKind.Finished, "", input, cached, output, StopKind.ToolUse);
                                yield break;
                            }
                        }
                    }
                    if (matched is not null)
                    {
                        accounting?.Add(input, cached, output);
                        accounting?.Metrics?.Finished(input, cached, output, TimeSpan.Zero, TimeSpan.Zero);
                        yield return new RunUpdate(ChatUpdateKind.Finished, "", input, cached, output, StopKind.StopSequence, matched);
                        yield break;
                    }
                    break;
                case ChatUpdateKind.Finished:
                    string rest = filter.Flush();
                    if (parser is not null)
                    {
                        foreach (var e in (IEnumerable<ToolCallEvent>)[.. parser.Push(rest), .. parser.Complete()])
                        {
                            yield return ToolUpdate(e, input, cached, output);
                            if (e.Kind == ToolCallEventKind.CallEnd && !tools!.Parallel)
                                break;
                        }
                    }
                    else if (rest.Length > 0)
                        yield return new RunUpdate(ChatUpdateKind.Text, rest, input, cached, output);
                    var stop = u.Finish switch
                    {
                        FinishReason.MaxTokens => StopKind.MaxTokens,
                        FinishReason.ContextFull => StopKind.ContextFull,
                        FinishReason.StopSequence => StopKind.StopSequence,
                        _ when parser?.CallCount > 0 => StopKind.ToolUse,
                        _ => StopKind.EndOfTurn,
                    };
                    finished = true;
                    yield return new RunUpdate(ChatUpdateKind.Finished, "", input, cached, output, stop, u.StopSequence) { CacheWrite5m = u.CacheWrite5m, CacheWrite1h = u.CacheWrite1h };
                    break;
            }
            if (finished)
                yield break;
        }
        if (!finished)
            throw new InvalidOperationException("the backend ended a generation without a finish update");
    }

    private static RunUpdate ToolUpdate(ToolCallEvent e, int input, int cached, int output) => e.Kind switch
    {
        ToolCallEventKind.Text => new RunUpdate(ChatUpdateKind.Text, e.Text, input, cached, output),
        ToolCallEventKind.CallStart => new RunUpdate(ChatUpdateKind.ToolCallStart, e.Text, input, cached, output) { ToolIndex = e.Index },
        ToolCallEventKind.Arguments => new RunUpdate(ChatUpdateKind.ToolCallArguments, e.Text, input, cached, output) { ToolIndex = e.Index },
        _ => new RunUpdate(ChatUpdateKind.ToolCallEnd, "", input, cached, output) { ToolIndex = e.Index },
    };
}

/// <summary>Holds back text that could be the start of a stop sequence until it is decided.</summary>
internal sealed class StopSequenceFilter(IReadOnlyList<string> stops)
{
    private string _pending = "";

    public string Push(string text, out string? matched)
    {
        matched = null;
        if (stops.Count == 0)
            return text;
        string buffer = _pending + text;
        int best = -1;
        foreach (string s in stops)
        {
            int at = buffer.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best))
            {
                best = at;
                matched = s;
            }
        }
        if (matched is not null)
        {
            _pending = "";
            return buffer[..best];
        }
        int hold = 0;
        foreach (string s in stops)
        {
            for (int len = Math.Min(s.Length - 1, buffer.Length); len > hold; len--)
            {
                if (buffer.AsSpan(buffer.Length - len).SequenceEqual(s.AsSpan(0, len)))
                {
                    hold = len;
                    break;
                }
            }
        }
        _pending = buffer[^hold..];
        return buffer[..^hold];
    }

    public string Flush()
    {
        string rest = _pending;
        _pending = "";
        return rest;
    }
}
