using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Server;

/// <summary>
/// Resumable SSE streams. A streaming request sent with <c>fathom-resumable: true</c> gets an <c>id:</c>
/// (<c>req_…:N</c>) on every event, and its generation keeps running for a grace period after the client
/// drops; the same request re-sent with <c>Last-Event-ID</c> replays the events after that id and follows
/// the rest of the same generation. Without the header a disconnect cancels the generation at once.
/// </summary>
internal static class ResumableStreams
{
    public const string OptInHeader = "fathom-resumable";

    public static async Task Middleware(HttpContext http, RequestDelegate next)
    {
        bool generation = HttpMethods.IsPost(http.Request.Method)
            && (http.Request.Path.Equals("/v1/messages", StringComparison.Ordinal) || http.Request.Path.Equals("/v1/chat/completions", StringComparison.Ordinal));
        var registry = http.RequestServices.GetService<StreamRegistry>();
        if (!generation || registry is null)
        {
            await next(http);
            return;
        }
        if (http.Request.Headers["Last-Event-ID"].FirstOrDefault() is { Length: > 0 } lastId)
        {
            await ResumeAsync(http, registry, lastId);
            return;
        }
        if (!string.Equals(http.Request.Headers[OptInHeader].FirstOrDefault(), "true", StringComparison.OrdinalIgnoreCase))
        {
            await next(http);
            return;
        }

        string key = RequestContext.RequestId(http);
        var log = registry.Start(key, http.Request.Path);
        var client = http.RequestAborted;
        using var generationCts = new CancellationTokenSource();
        var grace = RequestContext.Options(http).StreamResumeGrace;
        using var gone = client.Register(() => _ = log.CancelAfterGraceAsync(generationCts, grace));
        http.RequestAborted = generationCts.Token;
        var inner = http.Response.Body;
        var body = new ResumableBody(http, inner, log, key);
        http.Response.Body = body;
        try
        {
            await next(http);
        }
        finally
        {
            http.Response.Body = inner;
            log.Complete();
            registry.Retire(key, grace);
        }
    }

    private static async Task ResumeAsync(HttpContext http, StreamRegistry registry, string lastId)
    {
        bool anthropic = http.Request.Path.StartsWithSegments("/v1/messages");
        RequestContext.Authenticate(http, anthropic);
        int colon = lastId.LastIndexOf(':');
        string key = colon > 0 ? lastId[..colon] : lastId;
        int after = colon > 0 && int.TryParse(lastId.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0;
        var log = registry.Find(key);
        if (log is null || log.Path != http.Request.Path || !log.Resumable || log.Tenant != RequestContext.Tenant(http))
            throw new ApiException(404, $"stream '{key}' cannot be resumed: it is unknown, or ended more than the grace period ago");
        RequestContext.StartEventStream(http);
        await foreach (var evt in log.FollowAsync(after, http.RequestAborted))
        {
            await http.Response.Body.WriteAsync(evt, http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }
}

/// <summary>Streams that can still be resumed, kept for the grace period after they end.</summary>
internal sealed class StreamRegistry
{
    private readonly ConcurrentDictionary<string, StreamLog> _logs = new(StringComparer.Ordinal);

    public StreamLog Start(string key, string path) => _logs[key] = new StreamLog(path);

    public StreamLog? Find(string key) => _logs.TryGetValue(key, out var log) ? log : null;

    public void Retire(string key, TimeSpan grace) => _ = RetireAsync(key, grace);

    private async Task RetireAsync(string key, TimeSpan grace)
    {
        await Task.Delay(grace);
        _logs.TryRemove(key, out _);
    }
}

/// <summary>The events of one stream, each stored with its <c>id:</c> line, and a signal for followers.</summary>
internal sealed class StreamLog(string path)
{
    private readonly Lock _lock = new();
    private readonly List<byte[]> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _complete;
    private int _followers;

    public string Path { get; } = path;

    /// <summary>Set from the first event: the handler has authenticated the caller by then.</summary>
    public string? Tenant { get; set; }

    /// <summary>False when the answer was not an event stream (e.g. a validation error).</summary>
    public bool Resumable { get; set; } = true;

    /// <summary>Numbers the event, stores it with its <c>id:</c> line first, and returns what to send.</summary>
    public byte[] Append(string key, ReadOnlySpan<byte> evt)
    {
        TaskCompletionSource changed;
        byte[] stored;
        lock (_lock)
        {
            byte[] id = Encoding.UTF8.GetBytes($"id: {key}:{_events.Count + 1}\n");
            stored = [.. id, .. evt];
            _events.Add(stored);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        return stored;
    }

    public void Complete()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _complete = true;
            changed = _changed;
        }
        changed.TrySetResult();
    }

    /// <summary>Events after <paramref name="after"/>, then each new one until the stream completes.</summary>
    public async IAsyncEnumerable<byte[]> FollowAsync(int after, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        Interlocked.Increment(ref _followers);
        try
        {
            int next = Math.Max(0, after);
            while (true)
            {
                byte[][] batch;
                bool complete;
                Task changed;
                lock (_lock)
                {
                    batch = next < _events.Count ? [.. _events.Skip(next)] : [];
                    next = _events.Count;
                    complete = _complete;
                    changed = _changed.Task;
                }
                foreach (var evt in batch)
                    yield return evt;
                if (complete)
                    yield break;
                await changed.WaitAsync(ct);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _followers);
        }
    }

    /// <summary>The original client left: keep generating while someone follows or the grace period lasts.</summary>
    public async Task CancelAfterGraceAsync(CancellationTokenSource generation, TimeSpan grace)
    {
        try
        {
            do
            {
                await Task.Delay(grace);
                lock (_lock)
                {
                    if (_complete)
                        return;
                }
            }
            while (Volatile.Read(ref _followers) > 0);
            await generation.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The request already ended.
        }
    }
}

/// <summary>
/// Splits what the handler writes into SSE events, numbers them into the log, and forwards them to the
/// client while it is connected; a dropped client only stops the forwarding.
/// </summary>
internal sealed class ResumableBody(HttpContext http, Stream inner, StreamLog log, string key) : Stream
{
    private readonly MemoryStream _pending = new();
    private bool _sse;
    private bool _decided;
    private bool _gone;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (!_sse)
        {
            await inner.FlushAsync(cancellationToken);
            return;
        }
        if (_gone)
            return;
        try
        {
            await inner.FlushAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            _gone = true;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_decided)
        {
            _decided = true;
            _sse = http.Response.ContentType?.StartsWith("text/event-stream", StringComparison.Ordinal) == true;
            log.Resumable = _sse;
            log.Tenant = RequestContext.Tenant(http);
        }
        if (!_sse)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            return;
        }
        _pending.Write(buffer.Span);
        while (true)
        {
            var bytes = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
            int end = bytes.IndexOf("\n\n"u8);
            if (end < 0)
                break;
            byte[] evt = log.Append(key, bytes[..(end + 2)]);
            byte[] rest = bytes[(end + 2)..].ToArray();
            _pending.SetLength(0);
            _pending.Write(rest);
            await ForwardAsync(evt);
        }
    }

    private async Task ForwardAsync(byte[] evt)
    {
        if (_gone)
            return;
        try
        {
            await inner.WriteAsync(evt, CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            _gone = true;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _pending.Dispose();
        base.Dispose(disposing);
    }
}
