using Fathom.Server.Anthropic;
using Fathom.Server.Batches;
using Fathom.Server.OpenAI;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Server;

/// <summary>
/// Wiring for a host: <c>services.AddFathomServer(backend)</c>, then <c>app.UseFathomErrors()</c>,
/// <c>app.MapFathomAnthropic()</c> and <c>app.MapFathomOpenAI()</c>.
/// </summary>
public static class FathomServerExtensions
{
    public static IServiceCollection AddFathomServer(this IServiceCollection services, IChatBackend backend, FathomServerOptions? options = null)
    {
        options ??= new FathomServerOptions();
        if (options.HostedCostModel is { } costModel && Fathom.Cost.PriceTable.Default.TryFind(costModel) is null)
            throw new ArgumentException($"hosted cost model '{costModel}' is not in the price table", nameof(options));
        services.AddSingleton(backend);
        services.AddSingleton(options);
        services.AddSingleton<ServerLoad>();
        services.AddSingleton(new BatchClock(options.Clock));
        services.AddSingleton<IBatchStore>(_ => new SqliteBatchStore(options.DataDirectory is { } dir ? Path.Combine(dir, "batches.db") : null));
        services.AddSingleton<BatchProcessor>();
        services.AddSingleton(sp => new ServerMetrics(sp.GetRequiredService<IChatBackend>()));
        services.AddSingleton<StreamRegistry>();
        if (options.AuditLogPath is { } audit)
            services.AddSingleton(_ => new AuditLog(audit, options.HostedCostModel));
        services.AddHostedService(sp => sp.GetRequiredService<BatchProcessor>());
        return services;
    }

    /// <summary>
    /// Every failure becomes the API's JSON error envelope (never a framework text page or stack trace),
    /// and every response carries a <c>request-id</c>.
    /// </summary>
    public static IApplicationBuilder UseFathomErrors(this IApplicationBuilder app) => app.Use(ErrorsAndAccounting).Use(ResumableStreams.Middleware);

    private static async Task ErrorsAndAccounting(HttpContext http, RequestDelegate next)
    {
        http.Response.Headers["request-id"] = RequestContext.RequestId(http);
        var load = http.RequestServices.GetService<ServerLoad>();
        bool interactive = load is not null && HttpMethods.IsPost(http.Request.Method)
            && (http.Request.Path.Equals("/v1/messages", StringComparison.Ordinal) || http.Request.Path.Equals("/v1/chat/completions", StringComparison.Ordinal));
        if (interactive)
            load!.Enter();
        var metrics = http.RequestServices.GetService<ServerMetrics>();
        var accounting = new RequestAccounting { Metrics = metrics, CapturePrompt = RequestContext.Options(http).AuditPrompts };
        RequestAccounting.Current = accounting;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await next(http);
            if (!http.Response.HasStarted && http.Response.StatusCode is 404 or 405 && http.Response.ContentLength is null)
            {
                string message = http.Response.StatusCode == 404 ? $"Not found: {http.Request.Method} {http.Request.Path}" : $"Method {http.Request.Method} is not allowed on {http.Request.Path}";
                await WriteError(http, new ApiException(http.Response.StatusCode, message, openAICode: http.Response.StatusCode == 404 ? "unknown_url" : "method_not_allowed"));
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // Client disconnected; nothing to answer.
        }
        catch (Exception ex) when (!http.Response.HasStarted)
        {
            var error = ex switch
            {
                ApiException api => api,
                BadHttpRequestException bad => new ApiException(bad.StatusCode, bad.Message),
                _ => new ApiException(500, "internal server error: " + ex.Message),
            };
            http.Response.Clear();
            http.Response.Headers["request-id"] = RequestContext.RequestId(http);
            // An internal error repeats on retry; overload (529/503) is worth retrying.
            if (error.Status == 500)
                http.Response.Headers["x-should-retry"] = "false";
            await WriteError(http, error);
        }
        finally
        {
            if (interactive)
                load!.Exit();
            RequestAccounting.Current = null;
            if (http.Request.Path.StartsWithSegments("/v1"))
            {
                var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                int status = http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted ? 499 : http.Response.StatusCode;
                string endpoint = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                metrics?.Request(endpoint, status, elapsed);
                http.RequestServices.GetService<AuditLog>()?.Write(DateTimeOffset.UtcNow, RequestContext.Tenant(http), RequestContext.RequestId(http),
                    http.Request.Method, endpoint, accounting, status, elapsed);
            }
        }
    }

    private static Task WriteError(HttpContext http, ApiException error) => IsAnthropic(http)
        ? AnthropicEndpoints.WriteError(http, error.Status, error.Message)
        : OpenAIEndpoints.WriteError(http, error.Status, error.Message, error.Param, error.OpenAICode);

    /// <summary>Anthropic routes, or any request carrying anthropic-version, get Anthropic-shaped answers.</summary>
    internal static bool IsAnthropic(HttpContext http) =>
        http.Request.Headers.ContainsKey("anthropic-version") || http.Request.Path.StartsWithSegments("/v1/messages");

    public static IEndpointRouteBuilder MapFathomAnthropic(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/messages", AnthropicEndpoints.Messages);
        v1.MapPost("/messages/count_tokens", AnthropicEndpoints.CountTokens);
        v1.MapPost("/messages/batches", BatchEndpoints.Create);
        v1.MapGet("/messages/batches", BatchEndpoints.List);
        v1.MapGet("/messages/batches/{id}", (HttpContext http, string id) => BatchEndpoints.Get(http, id));
        v1.MapPost("/messages/batches/{id}/cancel", (HttpContext http, string id) => BatchEndpoints.Cancel(http, id));
        v1.MapGet("/messages/batches/{id}/results", (HttpContext http, string id) => BatchEndpoints.Results(http, id));
        v1.MapDelete("/messages/batches/{id}", (HttpContext http, string id) => BatchEndpoints.Delete(http, id));
        MapModels(app);
        return app;
    }

    /// <summary><c>GET /health</c> (no authentication: load balancers probe it) and <c>GET /metrics</c> in Prometheus text format.</summary>
    public static IEndpointRouteBuilder MapFathomObservability(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", Observability.Health);
        app.MapGet("/metrics", Observability.Metrics);
        return app;
    }

    public static IEndpointRouteBuilder MapFathomOpenAI(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/chat/completions", OpenAIEndpoints.ChatCompletions);
        MapModels(app);
        return app;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IEndpointRouteBuilder, object> ModelsMapped = [];

    /// <summary>Both APIs share <c>/v1/models</c>; the anthropic-version header picks the shape.</summary>
    private static void MapModels(IEndpointRouteBuilder app)
    {
        if (!ModelsMapped.TryAdd(app, new object()))
            return;
        var v1 = app.MapGroup("/v1");
        v1.MapGet("/models", (HttpContext http) => IsAnthropic(http) ? AnthropicEndpoints.ListModels(http) : OpenAIEndpoints.ListModels(http));
        v1.MapGet("/models/{id}", (HttpContext http, string id) => IsAnthropic(http) ? AnthropicEndpoints.GetModel(http, id) : OpenAIEndpoints.GetModel(http, id));
    }
}
