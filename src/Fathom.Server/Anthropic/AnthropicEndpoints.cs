using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Fathom.Server.Anthropic;

/// <summary>The Anthropic Messages API handlers: messages (JSON and SSE), count_tokens, models.</summary>
internal static class AnthropicEndpoints
{
    private static readonly byte[] SignatureKey = RandomNumberGenerator.GetBytes(32);
    private static readonly JsonElement EmptyInput = JsonDocument.Parse("{}").RootElement.Clone();

    public static async Task Messages(HttpContext http)
    {
        var (request, model, backend) = await Prepare(http, countTokens: false);
        int promptTokens = backend.CountTokens(model, request.Prompt);
        if (promptTokens > model.ContextLength)
            throw ApiException.Invalid($"prompt is too long: {promptTokens} tokens > {model.ContextLength} maximum", "messages", "context_length_exceeded");
        if (request.Stream)
            await StreamAsync(http, request, model, backend);
        else
            await CompleteAsync(http, request, model, backend);
    }

    public static async Task CountTokens(HttpContext http)
    {
        var (request, model, backend) = await Prepare(http, countTokens: true);
        await Write(http, new CountTokensResponse(backend.CountTokens(model, request.Prompt)), AnthropicJson.Default.CountTokensResponse);
    }

    public static async Task ListModels(HttpContext http)
    {
        RequestContext.Authenticate(http, anthropic: true);
        AnthropicRequest.ApiVersion(http.Request.Headers["anthropic-version"].FirstOrDefault());
        var q = http.Request.Query;
        int limit = 20;
        if (q.TryGetValue("limit", out var l) && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 1000))
            throw ApiException.Invalid("limit: Input should be an integer between 1 and 1000");
        var all = RequestContext.Backend(http).Models.Select(Info).ToList();
        int start = 0, end = all.Count;
        if (q["after_id"].FirstOrDefault() is { Length: > 0 } after)
            start = all.FindIndex(m => m.Id == after) + 1;
        if (q["before_id"].FirstOrDefault() is { Length: > 0 } before)
        {
            int at = all.FindIndex(m => m.Id == before);
            end = at < 0 ? all.Count : at;
            start = Math.Max(start, end - limit);
        }
        var page = all.Skip(start).Take(Math.Min(limit, Math.Max(0, end - start))).ToList();
        bool hasMore = start + page.Count < end;
        await Write(http, new AnthropicModelPage(page, hasMore, page.FirstOrDefault()?.Id, page.LastOrDefault()?.Id), AnthropicJson.Default.AnthropicModelPage);
    }

    public static async Task GetModel(HttpContext http, string id)
    {
        RequestContext.Authenticate(http, anthropic: true);
        AnthropicRequest.ApiVersion(http.Request.Headers["anthropic-version"].FirstOrDefault());
        await Write(http, Info(RequestContext.FindModel(http, id, anthropic: true)), AnthropicJson.Default.AnthropicModelInfo);
    }

    private static AnthropicModelInfo Info(ServedModel m) =>
        new(m.Id, m.DisplayName, m.Created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), m.ContextLength, m.MaxOutputTokens);

    private static async Task<(AnthropicRequest, ServedModel, IChatBackend)> Prepare(HttpContext http, bool countTokens)
    {
        RequestContext.Authenticate(http, anthropic: true);
        string version = AnthropicRequest.ApiVersion(http.Request.Headers["anthropic-version"].FirstOrDefault());
        using var doc = await RequestContext.ReadJsonAsync(http);
        var request = AnthropicRequest.Parse(doc.RootElement, version, countTokens);
        if (!countTokens)
            request = request with { Settings = request.Settings with { Tenant = RequestContext.Tenant(http), CacheBreakpoints = CacheControl.Breakpoints(doc.RootElement, version), MinP = SamplingExtensions.MinP(doc.RootElement, version) } };
        var model = RequestContext.FindModel(http, request.Model, anthropic: true);
        if (!countTokens && request.MaxTokens > model.MaxOutputTokens)
            throw ApiException.Invalid($"max_tokens: {request.MaxTokens} > {model.MaxOutputTokens}, which is the maximum allowed number of output tokens for {model.Id}");
        return (request, model, RequestContext.Backend(http));
    }

    private static string StopReason(StopKind stop) => stop switch
    {
        StopKind.MaxTokens => "max_tokens",
        StopKind.StopSequence => "stop_sequence",
        StopKind.ContextFull => "model_context_window_exceeded",
        StopKind.ToolUse => "tool_use",
        _ => "end_turn",
    };

    private static AnthropicUsage Usage(in RunUpdate u, int output) =>
        new(u.InputTokens - u.CachedInputTokens - u.CacheWrite, output, u.CacheWrite, u.CachedInputTokens)
        {
            CacheCreation = new CacheCreation(u.CacheWrite5m, u.CacheWrite1h),
            ServiceTier = "standard",
        };

    internal static string Signature(string thinking) =>
        Convert.ToBase64String(HMACSHA256.HashData(SignatureKey, Encoding.UTF8.GetBytes(thinking)));

    private static async Task CompleteAsync(HttpContext http, AnthropicRequest request, ServedModel model, IChatBackend backend) =>
        await Write(http, await BuildMessageAsync(request, model, backend, http.RequestAborted), AnthropicJson.Default.AnthropicMessage);

    /// <summary>Runs a request to the end and returns the Message object (also what a batch result holds).</summary>
    internal static async Task<AnthropicMessage> BuildMessageAsync(AnthropicRequest request, ServedModel model, IChatBackend backend, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var thinking = new StringBuilder();
        var calls = new List<(string Name, StringBuilder Input)>();
        RunUpdate last = default;
        var tools = ToolPlan.For(model, request.Prompt, request.ToolChoice, holdCalls: true);
        await foreach (var u in Generation.RunAsync(backend, model, request.Prompt, request.Settings, request.StopSequences, cancellationToken, tools))
        {
            if (u.Kind == ChatUpdateKind.Text)
                text.Append(u.Text);
            else if (u.Kind == ChatUpdateKind.Thinking)
                thinking.Append(u.Text);
            else if (u.Kind == ChatUpdateKind.ToolCallStart)
                calls.Add((u.Text, new StringBuilder()));
            else if (u.Kind == ChatUpdateKind.ToolCallArguments)
                calls[^1].Input.Append(u.Text);
            last = u;
        }
        var content = new List<AnthropicBlock>();
        if (thinking.Length > 0)
            content.Add(new AnthropicBlock("thinking") { Thinking = thinking.ToString(), Signature = Signature(thinking.ToString()) });
        string answer = calls.Count > 0 ? text.ToString().Trim() : text.ToString();
        if (answer.Length > 0)
            content.Add(new AnthropicBlock("text") { Text = answer });
        foreach (var (name, input) in calls)
            content.Add(ToolUse(name, ParseInput(input.ToString())));
        var message = new AnthropicMessage(RequestContext.NewId("msg_"), model.Id, content, Usage(last, last.OutputTokens))
        {
            StopReason = StopReason(last.Stop),
            StopSequence = last.StopSequence,
        };
        return message;
    }

    private static AnthropicBlock ToolUse(string name, JsonElement input) =>
        new("tool_use") { Id = RequestContext.NewId("toolu_"), Name = name, Input = input, Caller = ToolCaller.Direct };

    /// <summary>The parser only completes calls whose arguments are a JSON object; anything else is a bug, not input.</summary>
    private static JsonElement ParseInput(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    private static async Task StreamAsync(HttpContext http, AnthropicRequest request, ServedModel model, IChatBackend backend)
    {
        var ct = http.RequestAborted;
        var ping = RequestContext.Options(http).PingInterval;
        var tools = ToolPlan.For(model, request.Prompt, request.ToolChoice, holdCalls: false);
        await using var run = Generation.RunAsync(backend, model, request.Prompt, request.Settings, request.StopSequences, ct, tools).GetAsyncEnumerator(ct);
        // Errors before the first update (overload, engine refusal) still get a plain JSON error response.
        if (!await run.MoveNextAsync())
            throw new InvalidOperationException("the backend produced no updates");
        var first = run.Current;

        RequestContext.StartEventStream(http);
        var sse = new SseWriter(http.Response);
        var usage = Usage(first, Math.Max(1, first.OutputTokens));
        await sse.Event("message_start", new MessageStartEvent(new AnthropicMessage(RequestContext.NewId("msg_"), model.Id, [], usage)), AnthropicJson.Default.MessageStartEvent, ct);
        await sse.Event("ping", new PingEvent(), AnthropicJson.Default.PingEvent, ct);

        int index = -1;
        string? open = null;
        var thinking = new StringBuilder();
        try
        {
            var pending = first.Done ? null : run.MoveNextAsync().AsTask();
            var current = first;
            while (!current.Done)
            {
                if (pending is null)
                    break;
                var winner = await Task.WhenAny(pending, Task.Delay(ping, ct));
                if (winner != pending)
                {
                    await sse.Event("ping", new PingEvent(), AnthropicJson.Default.PingEvent, ct);
                    continue;
                }
                if (!await pending)
                    throw new InvalidOperationException("the generation ended without a finish");
                current = run.Current;
                if (current.Kind == ChatUpdateKind.ToolCallStart)
                {
                    await CloseBlock();
                    index++;
                    open = "tool_use";
                    var block = ToolUse(current.Text, EmptyInput);
                    await sse.Event("content_block_start", new ContentBlockStartEvent(index, block), AnthropicJson.Default.ContentBlockStartEvent, ct);
                }
                else if (current.Kind == ChatUpdateKind.ToolCallArguments && open == "tool_use")
                {
                    var delta = new BlockDelta("input_json_delta") { PartialJson = current.Text };
                    await sse.Event("content_block_delta", new ContentBlockDeltaEvent(index, delta), AnthropicJson.Default.ContentBlockDeltaEvent, ct);
                }
                else if (current.Kind == ChatUpdateKind.ToolCallEnd)
                    await CloseBlock();
                else if (current.Kind is ChatUpdateKind.Text or ChatUpdateKind.Thinking)
                {
                    string type = current.Kind == ChatUpdateKind.Text ? "text" : "thinking";
                    if (open != type)
                    {
                        await CloseBlock();
                        index++;
                        open = type;
                        var block = type == "text" ? new AnthropicBlock("text") { Text = "" } : new AnthropicBlock("thinking") { Thinking = "", Signature = "" };
                        await sse.Event("content_block_start", new ContentBlockStartEvent(index, block), AnthropicJson.Default.ContentBlockStartEvent, ct);
                    }
                    var delta = type == "text" ? new BlockDelta("text_delta") { Text = current.Text } : new BlockDelta("thinking_delta") { Thinking = current.Text };
                    if (type == "thinking")
                        thinking.Append(current.Text);
                    await sse.Event("content_block_delta", new ContentBlockDeltaEvent(index, delta), AnthropicJson.Default.ContentBlockDeltaEvent, ct);
                }
                pending = current.Done ? null : run.MoveNextAsync().AsTask();
            }
            await CloseBlock();
            var end = new MessageDeltaEvent(new StopDelta(StopReason(current.Stop), current.StopSequence),
                new DeltaUsage(current.OutputTokens, current.InputTokens - current.CachedInputTokens - current.CacheWrite, current.CacheWrite, current.CachedInputTokens));
            await sse.Event("message_delta", end, AnthropicJson.Default.MessageDeltaEvent, ct);
            await sse.Event("message_stop", new MessageStopEvent(), AnthropicJson.Default.MessageStopEvent, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away; disposing the run cancels the generation.
        }
        catch (Exception ex)
        {
            int status = ex is ApiException api ? api.Status : 500;
            string message = ex is ApiException ? ex.Message : "internal error during generation: " + ex.Message;
            var error = new AnthropicError(new ErrorDetail(ApiException.AnthropicType(status), message), RequestContext.RequestId(http));
            await sse.Event("error", error, AnthropicJson.Default.AnthropicError, CancellationToken.None);
        }

        async Task CloseBlock()
        {
            if (open is null)
                return;
            if (open == "thinking")
            {
                var sig = new BlockDelta("signature_delta") { Signature = Signature(thinking.ToString()) };
                await sse.Event("content_block_delta", new ContentBlockDeltaEvent(index, sig), AnthropicJson.Default.ContentBlockDeltaEvent, ct);
                thinking.Clear();
            }
            await sse.Event("content_block_stop", new ContentBlockStopEvent(index), AnthropicJson.Default.ContentBlockStopEvent, ct);
            open = null;
        }
    }

    private static async Task Write<T>(HttpContext http, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, info, http.RequestAborted);
    }

    public static Task WriteError(HttpContext http, int status, string message)
    {
        var error = new AnthropicError(new ErrorDetail(ApiException.AnthropicType(status), message), RequestContext.RequestId(http));
        http.Response.StatusCode = status;
        return Write(http, error, AnthropicJson.Default.AnthropicError);
    }
}
