using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Fathom.Server.Backends;

namespace Fathom.Server;

/// <summary>
/// The server's instruments on a <see cref="Meter"/> named <c>Fathom.Server</c> (any OpenTelemetry
/// exporter can read them), and a <see cref="MeterListener"/> that aggregates them for <c>GET /metrics</c>.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Fathom.Server";
    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] RateBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

    private readonly Meter _meter = new(MeterName);
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Series> _series = new();
    private readonly Dictionary<string, (string Type, string Help)> _meta = [];
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _input;
    private readonly Counter<long> _cached;
    private readonly Counter<long> _output;
    private readonly Histogram<double> _ttft;
    private readonly Histogram<double> _prefillRate;
    private readonly Histogram<double> _decodeRate;
    private long _inputSum;
    private long _cachedSum;

    public ServerMetrics(IChatBackend backend)
    {
        _requests = Add(_meter.CreateCounter<long>("fathom_requests_total", description: "HTTP requests by endpoint and status."), "counter");
        _duration = Add(_meter.CreateHistogram<double>("fathom_request_duration_seconds", "s", "Time to answer a request (streams: until the last event)."), "histogram");
        _input = Add(_meter.CreateCounter<long>("fathom_input_tokens_total", description: "Prompt tokens of finished generations (cached included)."), "counter");
        _cached = Add(_meter.CreateCounter<long>("fathom_cached_input_tokens_total", description: "Prompt tokens served from the prefix cache."), "counter");
        _output = Add(_meter.CreateCounter<long>("fathom_output_tokens_total", description: "Generated tokens."), "counter");
        _ttft = Add(_meter.CreateHistogram<double>("fathom_time_to_first_token_seconds", "s", "From the start of a generation to its first text."), "histogram");
        _prefillRate = Add(_meter.CreateHistogram<double>("fathom_prefill_tokens_per_second", description: "Prompt tokens computed per second of prefill, per generation."), "histogram");
        _decodeRate = Add(_meter.CreateHistogram<double>("fathom_decode_tokens_per_second", description: "Tokens generated per second of decode, per generation."), "histogram");
        var engine = (backend as EngineBackend)?.Engine;
        Add(_meter.CreateObservableGauge("fathom_queue_depth", () => engine?.Stats.Waiting ?? 0, description: "Requests waiting for a sequence slot."), "gauge");
        Add(_meter.CreateObservableGauge("fathom_running_sequences", () => engine?.Stats.Running ?? 0, description: "Sequences being generated."), "gauge");
        Add(_meter.CreateObservableGauge("fathom_kv_pages", () => KvPages(engine), description: "KV pages of the in-memory pool by state (in_use by running sequences, cached prefixes, free)."), "gauge");
        Add(_meter.CreateObservableGauge("fathom_prefix_cache_hit_ratio", () => Interlocked.Read(ref _inputSum) is > 0 and var all ? (double)Interlocked.Read(ref _cachedSum) / all : 0.0,
            description: "Share of prompt tokens served from the prefix cache since start."), "gauge");

        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    public void Request(string endpoint, int status, TimeSpan duration)
    {
        var tags = new TagList { { "endpoint", endpoint }, { "status", status.ToString(CultureInfo.InvariantCulture) } };
        _requests.Add(1, tags);
        _duration.Record(duration.TotalSeconds, new TagList { { "endpoint", endpoint } });
    }

    public void FirstToken(TimeSpan elapsed) => _ttft.Record(elapsed.TotalSeconds);

    public void Finished(int input, int cached, int output, TimeSpan prefill, TimeSpan decode)
    {
        _input.Add(input);
        _cached.Add(cached);
        _output.Add(output);
        Interlocked.Add(ref _inputSum, input);
        Interlocked.Add(ref _cachedSum, cached);
        if (prefill > TimeSpan.Zero && input > cached)
            _prefillRate.Record((input - cached) / prefill.TotalSeconds);
        if (decode > TimeSpan.Zero && output > 1)
            _decodeRate.Record((output - 1) / decode.TotalSeconds);
    }

    /// <summary>Every series in the Prometheus text exposition format (version 0.0.4).</summary>
    public string Render()
    {
        _listener.RecordObservableInstruments();
        var sb = new StringBuilder();
        foreach (var group in _series.OrderBy(s => s.Key.Name, StringComparer.Ordinal).ThenBy(s => s.Key.Labels, StringComparer.Ordinal).GroupBy(s => s.Key.Name))
        {
            var (type, help) = _meta[group.Key];
            sb.Append("# HELP ").Append(group.Key).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(group.Key).Append(' ').Append(type).Append('\n');
            foreach (var (key, series) in group)
                series.Write(sb, key.Name, key.Labels);
        }
        return sb.ToString();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meter.Dispose();
    }

    private T Add<T>(T instrument, string type) where T : Instrument
    {
        _meta[instrument.Name] = (type, instrument.Description ?? instrument.Name);
        return instrument;
    }

    private static IEnumerable<Measurement<int>> KvPages(Fathom.Engine.InferenceEngine? engine)
    {
        if (engine is null)
            yield break;
        var s = engine.Stats;
        int inUse = Math.Max(0, s.PagesInUse - s.PagesCached);
        yield return new Measurement<int>(inUse, new KeyValuePair<string, object?>("state", "in_use"));
        yield return new Measurement<int>(s.PagesCached, new KeyValuePair<string, object?>("state", "cached"));
        yield return new Measurement<int>(Math.Max(0, s.PagesTotal - s.PagesInUse), new KeyValuePair<string, object?>("state", "free"));
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = new StringBuilder();
        foreach (var tag in tags)
        {
            labels.Append(labels.Length == 0 ? "" : ",").Append(tag.Key).Append("=\"")
                .Append(Convert.ToString(tag.Value, CultureInfo.InvariantCulture)?.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }
        var series = _series.GetOrAdd((instrument.Name, labels.ToString()), _ => instrument switch
        {
            Histogram<double> h => new Series(h.Unit == "s" ? SecondsBuckets : RateBuckets),
            _ => new Series(null),
        });
        series.Add(value, instrument is ObservableGauge<int> or ObservableGauge<double> or ObservableGauge<long>);
    }

    /// <summary>A counter or gauge value, or a histogram's buckets, count and sum.</summary>
    private sealed class Series(double[]? buckets)
    {
        private readonly Lock _lock = new();
        private readonly long[] _counts = new long[buckets?.Length ?? 0];
        private double _sum;
        private long _count;

        public void Add(double value, bool replace)
        {
            lock (_lock)
            {
                _sum = replace ? value : _sum + value;
                _count++;
                if (buckets is null)
                    return;
                for (int i = 0; i < buckets.Length; i++)
                {
                    if (value <= buckets[i])
                        _counts[i]++;
                }
            }
        }

        public void Write(StringBuilder sb, string name, string labels)
        {
            lock (_lock)
            {
                if (buckets is null)
                {
                    Line(sb, name, labels, _sum);
                    return;
                }
                string sep = labels.Length == 0 ? "" : ",";
                for (int i = 0; i < buckets.Length; i++)
                    Line(sb, name + "_bucket", labels + sep + "le=\"" + buckets[i].ToString(CultureInfo.InvariantCulture) + "\"", _counts[i]);
                Line(sb, name + "_bucket", labels + sep + "le=\"+Inf\"", _count);
                Line(sb, name + "_sum", labels, _sum);
                Line(sb, name + "_count", labels, _count);
            }
        }

        private static void Line(StringBuilder sb, string name, string labels, double value)
        {
            sb.Append(name);
            if (labels.Length > 0)
                sb.Append('{').Append(labels).Append('}');
            sb.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
    }
}
