using System.Text;
using System.Text.Json;

namespace Fathom.Server;

/// <summary>What one HTTP request generated, filled in by <see cref="Generation"/> as it runs.</summary>
internal sealed class RequestAccounting
{
    private static readonly AsyncLocal<RequestAccounting?> CurrentSlot = new();

    /// <summary>The accounting of the request this code runs for (null outside a request, e.g. batch work).</summary>
    public static RequestAccounting? Current
    {
        get => CurrentSlot.Value;
        set => CurrentSlot.Value = value;
    }

    public ServerMetrics? Metrics { get; init; }
    public bool CapturePrompt { get; init; }
    public string? Model { get; set; }
    public string? Prompt { get; set; }
    private int _input, _cached, _output;

    public int InputTokens => _input;
    public int CachedInputTokens => _cached;
    public int OutputTokens => _output;

    public void Add(int input, int cached, int output)
    {
        Interlocked.Add(ref _input, input);
        Interlocked.Add(ref _cached, cached);
        Interlocked.Add(ref _output, output);
    }
}

/// <summary>
/// Append-only JSON-lines audit log: one line per API request with who, what and how much — never the
/// prompt text unless asked. Lines are written whole under a lock and flushed at once.
/// </summary>
internal sealed class AuditLog : IDisposable
{
    private readonly FileStream _file;
    private readonly Lock _lock = new();

    private readonly string? _costModel;

    /// <param name="path">The log file, appended to.</param>
    /// <param name="costModel">A price-table model whose estimated cost each line carries (null: none).</param>
    public AuditLog(string path, string? costModel = null)
    {
        _costModel = costModel;
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir)
            Directory.CreateDirectory(dir);
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    public void Write(DateTimeOffset time, string? tenant, string requestId, string method, string endpoint, RequestAccounting? usage, int status, TimeSpan duration)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("time", time.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("tenant", tenant);
            w.WriteString("request_id", requestId);
            w.WriteString("method", method);
            w.WriteString("endpoint", endpoint);
            w.WriteString("model", usage?.Model);
            w.WriteNumber("input_tokens", usage?.InputTokens ?? 0);
            w.WriteNumber("cached_input_tokens", usage?.CachedInputTokens ?? 0);
            w.WriteNumber("output_tokens", usage?.OutputTokens ?? 0);
            w.WriteNumber("status", status);
            w.WriteNumber("duration_ms", Math.Round(duration.TotalMilliseconds, 1));
            if (_costModel is not null && usage is not null)
                WriteCost(w, usage, batch: method == "BATCH");
            if (usage?.Prompt is { } prompt)
                w.WriteString("prompt", prompt);
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        lock (_lock)
        {
            _file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            _file.Flush(flushToDisk: false);
        }
    }

    // Decimal amounts as JSON numbers, never through double.
    private void WriteCost(Utf8JsonWriter w, RequestAccounting usage, bool batch)
    {
        var request = new Fathom.Cost.CostRequest(usage.InputTokens - usage.CachedInputTokens, usage.OutputTokens,
            CacheReadTokens: usage.CachedInputTokens, Batch: batch);
        var estimate = Fathom.Cost.CostEstimator.Estimate(Fathom.Cost.PriceTable.Default, _costModel, request);
        w.WriteStartObject("estimated_cost");
        w.WriteString("model", estimate.Model);
        w.WriteString("currency", estimate.Currency);
        w.WriteNumber("total", estimate.Total);
        w.WriteBoolean("long_context", estimate.LongContext);
        w.WriteEndObject();
    }

    public void Dispose()
    {
        lock (_lock)
            _file.Dispose();
    }

    internal static string PromptText(ChatPrompt prompt)
    {
        var sb = new StringBuilder();
        foreach (var turn in prompt.Turns)
            sb.Append(turn.Role).Append(": ").Append(turn.Content).Append('\n');
        return sb.ToString();
    }
}
