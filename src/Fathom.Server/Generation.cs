using System.Runtime.CompilerServices;

namespace Fathom.Server;

internal enum StopKind
{
    EndOfTurn,
    MaxTokens,
    ContextFull,
    StopSequence,
}

/// <summary>A backend update after stop sequences are applied; <see cref="Done"/> marks the last one.</summary>
internal readonly record struct RunUpdate(ChatUpdateKind Kind, string Text, int InputTokens, int CachedInputTokens, int OutputTokens, StopKind Stop = StopKind.EndOfTurn, string? StopSequence = null)
{
    public bool Done => Kind == ChatUpdateKind.Finished;

    public int CacheWrite5m { get; init; }
    public int CacheWrite1h { get; init; }
    public int CacheWrite => CacheWrite5m + CacheWrite1h;
}

/// <summary>Runs one generation for either API: applies stop sequences and turns the backend's finish into a stop kind.</summary>
internal static class Generation
{
    public static async IAsyncEnumerable<RunUpdate> RunAsync(IChatBackend backend, ServedModel model, ChatPrompt prompt, GenerationSettings settings,
        IReadOnlyList<string> stops, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var filter = new StopSequenceFilter(stops);
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
                    break;
                case ChatUpdateKind.Thinking:
                    if (u.Text.Length > 0)
                        yield return new RunUpdate(ChatUpdateKind.Thinking, u.Text, input, cached, output);
                    break;
                case ChatUpdateKind.Text:
                    string emit = filter.Push(u.Text, out string? matched);
                    if (emit.Length > 0)
                        yield return new RunUpdate(ChatUpdateKind.Text, emit, input, cached, output);
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
                    if (rest.Length > 0)
                        yield return new RunUpdate(ChatUpdateKind.Text, rest, input, cached, output);
                    var stop = u.Finish switch
                    {
                        FinishReason.MaxTokens => StopKind.MaxTokens,
                        FinishReason.ContextFull => StopKind.ContextFull,
                        FinishReason.StopSequence => StopKind.StopSequence,
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
