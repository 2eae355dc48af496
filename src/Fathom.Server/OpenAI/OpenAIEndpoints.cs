using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Fathom.Server.OpenAI;

/// <summary>The OpenAI Chat Completions handlers: completions (JSON and SSE) and models.</summary>
internal static class OpenAIEndpoints
{
    private const string Fingerprint = "fathom-0.1";

    public static async Task ChatCompletions(HttpContext http)
    {
        RequestContext.Authenticate(http, anthropic: false);
        OpenAIRequest request;
        using (var doc = await RequestContext.ReadJsonAsync(http))
            request = OpenAIRequest.Parse(doc.RootElement);
        var model = RequestContext.FindModel(http, request.Model, anthropic: false);
        var backend = RequestContext.Backend(http);
        int promptTokens = backend.CountTokens(model, request.Prompt);
        if (promptTokens > model.ContextLength)
            throw ApiException.Invalid($"This model's maximum context length is {model.ContextLength} tokens. However, your messages resulted in {promptTokens} tokens.", "messages", "context_length_exceeded");
        int room = Math.Min(model.MaxOutputTokens, model.ContextLength - promptTokens);
        if (request.MaxTokens > model.MaxOutputTokens)
            throw ApiException.Invalid($"max_completion_tokens is too large: {request.MaxTokens}. This model supports at most {model.MaxOutputTokens} completion tokens.", "max_completion_tokens", "invalid_value");
        var settings = request.Settings with { MaxTokens = request.MaxTokens ?? Math.Max(1, room), Tenant = RequestContext.Tenant(http) };

        string id = RequestContext.NewId("chatcmpl-", 29);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (request.Stream)
            await StreamAsync(http, request, model, backend, settings, id, created);
        else
            await CompleteAsync(http, request, model, backend, settings, id, created);
    }

    public static async Task ListModels(HttpContext http)
    {
        RequestContext.Authenticate(http, anthropic: false);
        var data = RequestContext.Backend(http).Models.Select(Info).ToList();
        await Write(http, new OpenAIModelList(data), OpenAIJson.Default.OpenAIModelList);
    }

    public static async Task GetModel(HttpContext http, string id)
    {
        RequestContext.Authenticate(http, anthropic: false);
        await Write(http, Info(RequestContext.FindModel(http, id, anthropic: false)), OpenAIJson.Default.OpenAIModel);
    }

    private static OpenAIModel Info(ServedModel m) => new(m.Id, m.Created.ToUnixTimeSeconds());

    private static string FinishReason(StopKind stop) => stop switch
    {
        StopKind.MaxTokens or StopKind.ContextFull => "length",
        StopKind.ToolUse => "tool_calls",
        _ => "stop",
    };

    private static OpenAIUsage Usage(int prompt, int cached, int completion) =>
        new(prompt, completion, prompt + completion, new PromptTokensDetails(cached, 0), new CompletionTokensDetails(0, 0, 0, 0));

    private static GenerationSettings ForChoice(GenerationSettings s, int choice) =>
        choice == 0 ? s : s with { Seed = s.Seed is { } seed ? seed + choice : null };

    private static async Task CompleteAsync(HttpContext http, OpenAIRequest request, ServedModel model, IChatBackend backend, GenerationSettings settings, string id, long created)
    {
        var choices = new List<OpenAIChoice>();
        int prompt = 0, cached = 0, completion = 0;
        var tools = ToolPlan.For(model, request.Prompt, request.ToolChoice, holdCalls: true);
        for (int c = 0; c < request.N; c++)
        {
            var text = new StringBuilder();
            var calls = new List<OpenAIToolCall>();
            var args = new StringBuilder();
            RunUpdate last = default;
            await foreach (var u in Generation.RunAsync(backend, model, request.Prompt, ForChoice(settings, c), request.Stop, http.RequestAborted, tools))
            {
                if (u.Kind == ChatUpdateKind.Text)
                    text.Append(u.Text);
                else if (u.Kind == ChatUpdateKind.ToolCallStart)
                {
                    calls.Add(new OpenAIToolCall(RequestContext.NewId("call_"), new OpenAIFunctionCall(u.Text, "")));
                    args.Clear();
                }
                else if (u.Kind == ChatUpdateKind.ToolCallArguments)
                {
                    args.Append(u.Text);
                    calls[^1] = calls[^1] with { Function = calls[^1].Function with { Arguments = args.ToString() } };
                }
                last = u;
            }
            prompt = last.InputTokens;
            cached = c == 0 ? last.CachedInputTokens : cached;
            completion += last.OutputTokens;
            // A turn of only tool calls has null content, as the API sends it.
            string? content = calls.Count == 0 ? text.ToString() : text.ToString().Trim() is { Length: > 0 } t ? t : null;
            choices.Add(new OpenAIChoice(c, new OpenAIMessage(content) { ToolCalls = calls.Count > 0 ? calls : null }, FinishReason(last.Stop)));
        }
        await Write(http, new ChatCompletion(id, created, model.Id, Fingerprint, choices, Usage(prompt, cached, completion)), OpenAIJson.Default.ChatCompletion);
    }

    private static async Task StreamAsync(HttpContext http, OpenAIRequest request, ServedModel model, IChatBackend backend, GenerationSettings settings, string id, long created)
    {
        var ct = http.RequestAborted;
        SseWriter? sse = null;
        int prompt = 0, cached = 0, completion = 0;
        var tools = ToolPlan.For(model, request.Prompt, request.ToolChoice, holdCalls: false);
        try
        {
            for (int c = 0; c < request.N; c++)
            {
                await using var run = Generation.RunAsync(backend, model, request.Prompt, ForChoice(settings, c), request.Stop, ct, tools).GetAsyncEnumerator(ct);
                while (await run.MoveNextAsync())
                {
                    var u = run.Current;
                    if (sse is null)
                    {
                        // Refusals before the first update still get a plain JSON error with its status.
                        RequestContext.StartEventStream(http);
                        sse = new SseWriter(http.Response);
                    }
                    if (u.Kind == ChatUpdateKind.Prompt)
                    {
                        prompt = u.InputTokens;
                        cached = c == 0 ? u.CachedInputTokens : cached;
                        await Chunk(sse, new ChunkDelta("assistant", ""), c, null, ct);
                    }
                    else if (u.Kind == ChatUpdateKind.Text)
                        await Chunk(sse, new ChunkDelta(null, u.Text), c, null, ct);
                    else if (u.Kind == ChatUpdateKind.ToolCallStart)
                    {
                        var call = new ChunkToolCall(u.ToolIndex, new ChunkFunction(u.Text, "")) { Id = RequestContext.NewId("call_"), Type = "function" };
                        await Chunk(sse, new ChunkDelta(null, null) { ToolCalls = [call] }, c, null, ct);
                    }
                    else if (u.Kind == ChatUpdateKind.ToolCallArguments)
                        await Chunk(sse, new ChunkDelta(null, null) { ToolCalls = [new ChunkToolCall(u.ToolIndex, new ChunkFunction(null, u.Text))] }, c, null, ct);
                    else if (u.Done)
                    {
                        prompt = u.InputTokens;
                        cached = c == 0 ? u.CachedInputTokens : cached;
                        completion += u.OutputTokens;
                        await Chunk(sse, new ChunkDelta(null, null), c, FinishReason(u.Stop), ct);
                    }
                }
            }
            if (request.IncludeUsage)
                await sse!.Data(new ChatCompletionChunk(id, created, model.Id, Fingerprint, [], Usage(prompt, cached, completion)), OpenAIJson.Default.ChatCompletionChunk, ct);
            await sse!.Raw("[DONE]", ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away; disposing the run cancels the generation.
        }
        catch (Exception ex) when (sse is not null)
        {
            int status = ex is ApiException api ? api.Status : 500;
            var error = new OpenAIError(new OpenAIErrorDetail(ex.Message, ApiException.OpenAIType(status), null, null));
            await sse.Data(error, OpenAIJson.Default.OpenAIError, CancellationToken.None);
        }

        Task Chunk(SseWriter w, ChunkDelta delta, int index, string? finish, CancellationToken token) =>
            w.Data(new ChatCompletionChunk(id, created, model.Id, Fingerprint, [new ChunkChoice(index, delta, finish)], null), OpenAIJson.Default.ChatCompletionChunk, token);
    }

    private static async Task Write<T>(HttpContext http, T value, JsonTypeInfo<T> info)
    {
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, info, http.RequestAborted);
    }

    public static Task WriteError(HttpContext http, int status, string message, string? param, string? code)
    {
        // The OpenAI SDK does not retry 529; 503 is its overload status.
        if (status == 529)
            (status, code) = (503, "overloaded");
        http.Response.StatusCode = status;
        return Write(http, new OpenAIError(new OpenAIErrorDetail(message, ApiException.OpenAIType(status), param, code)), OpenAIJson.Default.OpenAIError);
    }
}
