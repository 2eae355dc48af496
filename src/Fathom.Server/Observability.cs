using System.Text.Json;
using Fathom.Server.Backends;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Server;

internal static class Observability
{
    public static async Task Health(HttpContext http)
    {
        var backend = RequestContext.Backend(http);
        var stats = (backend as EngineBackend)?.Engine.Stats;
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.Body);
        w.WriteStartObject();
        w.WriteString("status", "ok");
        w.WriteStartArray("models");
        foreach (var m in backend.Models)
            w.WriteStringValue(m.Id);
        w.WriteEndArray();
        w.WriteNumber("interactive_requests", http.RequestServices.GetService<ServerLoad>()?.Interactive ?? 0);
        if (stats is not null)
        {
            w.WriteNumber("running", stats.Running);
            w.WriteNumber("waiting", stats.Waiting);
            w.WriteNumber("kv_pages_in_use", stats.PagesInUse);
            w.WriteNumber("kv_pages_total", stats.PagesTotal);
        }
        w.WriteEndObject();
    }

    /// <summary>Behind the same keys as the APIs when authentication is on.</summary>
    public static async Task Metrics(HttpContext http)
    {
        RequestContext.Authenticate(http, anthropic: false);
        http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await http.Response.WriteAsync(http.RequestServices.GetRequiredService<ServerMetrics>().Render(), http.RequestAborted);
    }
}
