using System.Globalization;
using System.Text;
using System.Text.Json;
using Fathom.Server.Anthropic;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Server.Batches;

/// <summary>The Message Batches routes. A batch is visible only to the tenant that created it.</summary>
internal static class BatchEndpoints
{
    /// <summary>The batch body limit of the real API.</summary>
    public const long MaxBatchBytes = 256L * 1024 * 1024;

    public const int MaxRequests = 100_000;

    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    public static async Task Create(HttpContext http)
    {
        string version = Begin(http);
        var requests = new List<BatchRequestInput>();
        using (var doc = await RequestContext.ReadJsonAsync(http, MaxBatchBytes))
        {
            var f = new JsonFields(doc.RootElement, "", anthropic: true);
            var items = f.Array("requests", required: true)!.Value;
            if (items.GetArrayLength() == 0)
                throw f.Error("requests", "at least one request is required");
            if (items.GetArrayLength() > MaxRequests)
                throw f.Error("requests", $"at most {MaxRequests} requests are allowed in one batch");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            int i = 0;
            foreach (var item in items.EnumerateArray())
            {
                var r = f.Child(item, $"requests.{i}");
                string customId = r.String("custom_id", required: true)!;
                if (customId.Length is 0 or > 64 || !customId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                    throw r.Error("custom_id", "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'");
                if (!seen.Add(customId))
                    throw r.Error("custom_id", $"Duplicate custom_id '{customId}': custom_id values must be unique within a batch");
                var p = r.Object("params", required: true)!.Value;
                requests.Add(new BatchRequestInput(customId, p.Element.GetRawText()));
                i++;
            }
        }
        var now = Clock(http).Now;
        var batch = Store(http).Create(RequestContext.NewId("msgbatch_"), RequestContext.Tenant(http), version, now, now + Lifetime, requests);
        http.RequestServices.GetRequiredService<BatchProcessor>().Wake();
        await Write(http, Object(http, batch), BatchJson.Default.MessageBatch);
    }

    public static async Task Get(HttpContext http, string id)
    {
        Begin(http);
        await Write(http, Object(http, Find(http, id)), BatchJson.Default.MessageBatch);
    }

    public static async Task List(HttpContext http)
    {
        Begin(http);
        var q = http.Request.Query;
        int limit = 20;
        if (q.TryGetValue("limit", out var l) && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 1000))
            throw ApiException.Invalid("limit: Input should be an integer between 1 and 1000");
        string? after = q["after_id"].FirstOrDefault() is { Length: > 0 } a ? a : null;
        string? before = q["before_id"].FirstOrDefault() is { Length: > 0 } b ? b : null;
        var page = Store(http).List(RequestContext.Tenant(http), limit, after, before, out bool hasMore);
        var data = page.Select(x => Object(http, x)).ToList();
        await Write(http, new MessageBatchPage(data, hasMore, data.FirstOrDefault()?.Id, data.LastOrDefault()?.Id), BatchJson.Default.MessageBatchPage);
    }

    public static async Task Cancel(HttpContext http, string id)
    {
        Begin(http);
        Find(http, id);
        var batch = Store(http).Cancel(id, Clock(http).Now) ?? throw NotFound(id);
        http.RequestServices.GetRequiredService<BatchProcessor>().CancelRunning(id);
        await Write(http, Object(http, batch), BatchJson.Default.MessageBatch);
    }

    public static async Task Results(HttpContext http, string id)
    {
        Begin(http);
        var batch = Find(http, id);
        if (batch.EndedAt is null)
            throw ApiException.Invalid($"Message batch {id} has not finished processing; results are available once processing_status is 'ended'.");
        if (batch.ArchivedAt is not null)
            throw new ApiException(404, $"The results of message batch {id} have expired and are no longer available.");
        http.Response.ContentType = "application/binary";
        var body = http.Response.Body;
        var line = new StringBuilder();
        int n = 0;
        foreach (var (customId, result) in Store(http).Results(id))
        {
            line.Clear();
            line.Append("{\"custom_id\":").Append(JsonSerializer.Serialize(customId, BatchStringJson.Default.String)).Append(",\"result\":").Append(result).Append("}\n");
            await body.WriteAsync(Encoding.UTF8.GetBytes(line.ToString()), http.RequestAborted);
            if (++n % 256 == 0)
                await body.FlushAsync(http.RequestAborted);
        }
    }

    public static async Task Delete(HttpContext http, string id)
    {
        Begin(http);
        var batch = Find(http, id);
        if (batch.EndedAt is null)
            throw ApiException.Invalid($"Message batch {id} is still being processed; cancel it first and delete it once it has ended.");
        if (!Store(http).Delete(id))
            throw NotFound(id);
        await Write(http, new MessageBatchDeleted(id), BatchJson.Default.MessageBatchDeleted);
    }

    private static string Begin(HttpContext http)
    {
        RequestContext.Authenticate(http, anthropic: true);
        return AnthropicRequest.ApiVersion(http.Request.Headers["anthropic-version"].FirstOrDefault());
    }

    private static IBatchStore Store(HttpContext http) => http.RequestServices.GetRequiredService<IBatchStore>();

    private static BatchClock Clock(HttpContext http) => http.RequestServices.GetRequiredService<BatchClock>();

    /// <summary>Another tenant's batch answers exactly like a missing one.</summary>
    private static BatchRecord Find(HttpContext http, string id)
    {
        var batch = Store(http).Get(id);
        if (batch is null || batch.Tenant != RequestContext.Tenant(http))
            throw NotFound(id);
        return batch;
    }

    private static ApiException NotFound(string id) => new(404, $"message batch not found: {id}");

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static MessageBatch Object(HttpContext http, BatchRecord b)
    {
        string status = b.EndedAt is not null ? "ended" : b.CancelInitiatedAt is not null ? "canceling" : "in_progress";
        string? resultsUrl = b.EndedAt is not null && b.ArchivedAt is null
            ? $"{http.Request.Scheme}://{http.Request.Host}{http.Request.PathBase}/v1/messages/batches/{b.Id}/results"
            : null;
        var c = b.Counts;
        return new MessageBatch(b.Id, status, new BatchRequestCounts(c.Processing, c.Succeeded, c.Errored, c.Canceled, c.Expired),
            Time(b.CreatedAt), Time(b.ExpiresAt), b.EndedAt is { } e ? Time(e) : null, b.CancelInitiatedAt is { } ci ? Time(ci) : null,
            b.ArchivedAt is { } ar ? Time(ar) : null, resultsUrl);
    }

    private static async Task Write<T>(HttpContext http, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, info, http.RequestAborted);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class BatchStringJson : System.Text.Json.Serialization.JsonSerializerContext;
