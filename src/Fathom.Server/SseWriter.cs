using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Fathom.Server;

/// <summary>Writes server-sent events and flushes each one so clients see tokens as they are generated.</summary>
internal sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] End = "\n\n"u8.ToArray();

    /// <summary>An event with an <c>event:</c> line (Anthropic: the SDK ignores events without one).</summary>
    public async Task Event<T>(string name, T value, JsonTypeInfo<T> info, CancellationToken ct)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes($"event: {name}\n"), ct);
        await Data(value, info, ct);
    }

    public async Task Data<T>(T value, JsonTypeInfo<T> info, CancellationToken ct)
    {
        await response.Body.WriteAsync(DataPrefix, ct);
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(value, info), ct);
        await response.Body.WriteAsync(End, ct);
        await response.Body.FlushAsync(ct);
    }

    public async Task Raw(string data, CancellationToken ct)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes($"data: {data}\n\n"), ct);
        await response.Body.FlushAsync(ct);
    }
}
