using System.Text.Json;
using Fathom.Server.Anthropic;
using Microsoft.Extensions.Hosting;

namespace Fathom.Server.Batches;

/// <summary>
/// Runs pending batch requests in the background, only while no interactive request is in flight.
/// A request's result is stored in the same transaction that marks it final, so a request interrupted
/// by a shutdown or a kill is still pending and runs again after restart.
/// </summary>
internal sealed class BatchProcessor(IBatchStore store, IChatBackend backend, ServerLoad load, FathomServerOptions options, BatchClock clock, ServerMetrics metrics, AuditLog? audit = null) : BackgroundService
{
    /// <summary>Results are downloadable this long after creation, then archived.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(29);

    private readonly Lock _lock = new();
    private readonly HashSet<(string BatchId, string CustomId)> _running = [];
    private readonly Dictionary<(string BatchId, string CustomId), CancellationTokenSource> _cancels = [];
    private readonly SemaphoreSlim _wake = new(0);

    private DateTimeOffset LastSweep { get; set; } = DateTimeOffset.MinValue;

    /// <summary>New work arrived (a batch was created).</summary>
    public void Wake() => _wake.Release();

    /// <summary>Stops the generations of a canceled batch; their results are discarded.</summary>
    public void CancelRunning(string batchId)
    {
        lock (_lock)
        {
            foreach (var (key, cts) in _cancels)
            {
                if (key.BatchId == batchId)
                    cts.Cancel();
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        int workers = Math.Max(1, options.BatchConcurrency);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(() => WorkerAsync(stoppingToken), CancellationToken.None)));
    }

    private async Task WorkerAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (clock.Now - LastSweep > TimeSpan.FromSeconds(1))
                {
                    LastSweep = clock.Now;
                    store.Sweep(LastSweep, Retention);
                }
                await load.WaitIdleAsync(stop);
                PendingBatchRequest? next;
                CancellationTokenSource cts;
                lock (_lock)
                {
                    next = store.NextPending(_running);
                    if (next is null)
                        cts = null!;
                    else
                    {
                        _running.Add((next.BatchId, next.CustomId));
                        cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
                        _cancels[(next.BatchId, next.CustomId)] = cts;
                    }
                }
                if (next is null)
                {
                    await _wake.WaitAsync(TimeSpan.FromSeconds(1), stop);
                    continue;
                }
                try
                {
                    long started = System.Diagnostics.Stopwatch.GetTimestamp();
                    var accounting = new RequestAccounting { Metrics = metrics, CapturePrompt = options.AuditPrompts };
                    var (state, result, status) = await RunAsync(next, accounting, cts.Token);
                    if (store.Complete(next.BatchId, next.CustomId, state, result, clock.Now))
                    {
                        audit?.Write(clock.Now, next.Tenant, $"{next.BatchId}/{next.CustomId}", "BATCH", "/v1/messages/batches/{id}", accounting, status,
                            System.Diagnostics.Stopwatch.GetElapsedTime(started));
                    }
                }
                catch (ApiException ex) when (ex.Status == 529)
                {
                    // The engine queue is full: leave the request pending and let interactive traffic drain.
                    await Task.Delay(500, stop);
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested)
                {
                    // Shutdown: the request stays pending and runs again after restart. Cancel: already final.
                }
                finally
                {
                    lock (_lock)
                    {
                        _running.Remove((next.BatchId, next.CustomId));
                        _cancels.Remove((next.BatchId, next.CustomId));
                    }
                    cts.Dispose();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception) when (!stop.IsCancellationRequested)
            {
                // A store failure (disk full, locked file) must not stop the host: pending work stays pending; retry shortly.
                await Task.Delay(TimeSpan.FromSeconds(1), stop).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Validates and runs one request like <c>/v1/messages</c> would; a refusal becomes an errored result.</summary>
    private async Task<(BatchRequestState, string, int)> RunAsync(PendingBatchRequest pending, RequestAccounting accounting, CancellationToken ct)
    {
        RequestAccounting.Current = accounting;
        try
        {
            using var doc = JsonDocument.Parse(pending.ParamsJson);
            var root = doc.RootElement;
            if (root.TryGetProperty("stream", out var stream) && stream.ValueKind == JsonValueKind.True)
                throw ApiException.Invalid("stream: streaming is not supported in batch requests");
            var request = AnthropicRequest.Parse(root, pending.Version, countTokens: false);
            request = request with
            {
                Settings = request.Settings with
                {
                    Tenant = pending.Tenant,
                    CacheBreakpoints = CacheControl.Breakpoints(root, pending.Version),
                    MinP = SamplingExtensions.MinP(root, pending.Version),
                },
            };
            var model = backend.Models.FirstOrDefault(m => m.Id == request.Model) ?? throw new ApiException(404, $"model: {request.Model}");
            if (request.MaxTokens > model.MaxOutputTokens)
                throw ApiException.Invalid($"max_tokens: {request.MaxTokens} > {model.MaxOutputTokens}, which is the maximum allowed number of output tokens for {model.Id}");
            int promptTokens = backend.CountTokens(model, request.Prompt);
            if (promptTokens > model.ContextLength)
                throw ApiException.Invalid($"prompt is too long: {promptTokens} tokens > {model.ContextLength} maximum");
            var message = await AnthropicEndpoints.BuildMessageAsync(request, model, backend, ct);
            message = message with { Usage = message.Usage with { ServiceTier = "batch" } };
            var result = new BatchSucceeded(message);
            return (BatchRequestState.Succeeded, JsonSerializer.Serialize(result, BatchResultJson.Default.BatchSucceeded), 200);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (ApiException ex) when (ex.Status == 529)
        {
            throw;
        }
        catch (Exception ex)
        {
            int status = ex is ApiException api ? api.Status : 500;
            string message = ex is ApiException or JsonException ? ex.Message : "internal error: " + ex.Message;
            if (ex is JsonException)
                status = 400;
            var error = new BatchErrored(new AnthropicError(new ErrorDetail(ApiException.AnthropicType(status), message), null));
            return (BatchRequestState.Errored, JsonSerializer.Serialize(error, BatchResultJson.Default.BatchErrored), status);
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}

/// <summary>The batch clock (tests move it to check expiry and archiving).</summary>
internal sealed class BatchClock(TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow();
}
