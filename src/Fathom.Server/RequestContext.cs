using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Server;

/// <summary>Per-request plumbing both API surfaces share: ids, auth, bounded body reading, model lookup.</summary>
internal static class RequestContext
{
    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const string RequestIdKey = "fathom.request-id";

    public static string NewId(string prefix, int length = 24)
    {
        Span<byte> bytes = stackalloc byte[length];
        RandomNumberGenerator.Fill(bytes);
        var sb = new StringBuilder(prefix, prefix.Length + length);
        foreach (byte b in bytes)
            sb.Append(Base62[b % 62]);
        return sb.ToString();
    }

    public static string RequestId(HttpContext http)
    {
        if (http.Items.TryGetValue(RequestIdKey, out object? id) && id is string s)
            return s;
        string created = NewId("req_");
        http.Items[RequestIdKey] = created;
        return created;
    }

    public static IChatBackend Backend(HttpContext http) => http.RequestServices.GetRequiredService<IChatBackend>();

    public static FathomServerOptions Options(HttpContext http) => http.RequestServices.GetService<FathomServerOptions>() ?? new FathomServerOptions();

    private const string TenantKey = "fathom.tenant";

    /// <summary>The caller's tenant once <see cref="Authenticate"/> passed (null: no authentication, the shared tenant).</summary>
    public static string? Tenant(HttpContext http) => http.Items.TryGetValue(TenantKey, out object? t) ? t as string : null;

    /// <summary>The x-api-key header wins over a bearer token, as on the real API.</summary>
    public static void Authenticate(HttpContext http, bool anthropic)
    {
        var options = Options(http);
        var keys = options.ApiKeys;
        if (keys.Count == 0 && options.KeyTenants.Count == 0)
            return;
        string? key = http.Request.Headers["x-api-key"].FirstOrDefault();
        if (string.IsNullOrEmpty(key))
        {
            string? auth = http.Request.Headers.Authorization.FirstOrDefault();
            if (auth is not null && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                key = auth["Bearer ".Length..].Trim();
        }
        if (string.IsNullOrEmpty(key))
            throw new ApiException(401, anthropic ? "x-api-key header is required" : "You didn't provide an API key.", openAICode: "invalid_api_key");
        byte[] given = Encoding.UTF8.GetBytes(key);
        foreach (var (k, tenant) in options.KeyTenants)
        {
            if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(k), given))
            {
                http.Items[TenantKey] = tenant;
                return;
            }
        }
        foreach (string k in keys)
        {
            if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(k), given))
            {
                http.Items[TenantKey] = KeyTenant(k);
                return;
            }
        }
        throw new ApiException(401, anthropic ? "invalid x-api-key" : "Incorrect API key provided.", openAICode: "invalid_api_key");
    }

    /// <summary>A key given without a tenant name is its own tenant, named by a hash so the key never appears in logs.</summary>
    public static string KeyTenant(string key) => FathomServerOptions.TenantOfKey(key);

    /// <summary>Reads the body under the size limit and parses it as a JSON object.</summary>
    public static async Task<JsonDocument> ReadJsonAsync(HttpContext http, long? maxBytes = null)
    {
        long limit = maxBytes ?? Options(http).MaxRequestBytes;
        // Kestrel's own cap (30 MB) would otherwise answer first, with a framework error.
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } cap)
            cap.MaxRequestBodySize = limit + 1;
        if (http.Request.ContentLength > limit)
            throw TooLarge(limit);
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
                throw TooLarge(limit);
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            throw ApiException.Invalid("request body is empty; expected a JSON object");
        // JsonDocument defers string transcoding, so invalid UTF-8 would otherwise surface later as a 500.
        if (!System.Text.Unicode.Utf8.IsValid(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)))
            throw ApiException.Invalid("the request body is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = 128 });
        }
        catch (JsonException ex)
        {
            throw ApiException.Invalid($"the request body is not valid JSON: {ex.Message}");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw ApiException.Invalid("the request body must be a JSON object");
        }
        return doc;
    }

    private static ApiException TooLarge(long limit) =>
        new(413, $"request body exceeds the {limit}-byte limit", openAICode: "request_too_large");

    public static ServedModel FindModel(HttpContext http, string id, bool anthropic)
    {
        foreach (var m in Backend(http).Models)
        {
            if (string.Equals(m.Id, id, StringComparison.Ordinal))
                return m;
        }
        throw new ApiException(404, anthropic ? $"model: {id}" : $"The model '{id}' does not exist", "model", "model_not_found");
    }

    /// <summary>Server-sent events must reach the client as they are written, not in one burst at the end.</summary>
    public static void StartEventStream(HttpContext http)
    {
        http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        http.Response.StatusCode = 200;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
    }
}
