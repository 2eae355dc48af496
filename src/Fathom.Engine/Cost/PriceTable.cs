using System.Text.Json;

namespace Fathom.Cost;

/// <summary>A price table is missing, malformed or names no such model.</summary>
public sealed class PriceTableException(string message) : Exception(message);

/// <summary>The higher rates a model charges when a request's input exceeds <see cref="ThresholdTokens"/>.</summary>
public sealed record LongContextTier(long ThresholdTokens, decimal InputPerMTok, decimal OutputPerMTok);

/// <summary>One model's prices in currency units per million tokens.</summary>
public sealed record ModelPrice(string Name, IReadOnlyList<string> Aliases, decimal InputPerMTok, decimal OutputPerMTok, LongContextTier? LongContext);

/// <summary>
/// A versioned price table (JSON, prices per million tokens as exact decimals). The default ships inside the
/// assembly; a user file overrides it model by model (<see cref="OverrideWith"/>).
/// </summary>
public sealed class PriceTable
{
    public const int SchemaVersion = 1;

    private PriceTable(string version, string date, string currency, string? source, string? defaultModel,
        decimal? write5m, decimal? write1h, decimal? read, decimal? batch, IReadOnlyList<ModelPrice> models)
    {
        Version = version;
        Date = date;
        Currency = currency;
        Source = source;
        DefaultModelName = defaultModel;
        _write5m = write5m;
        _write1h = write1h;
        _read = read;
        _batch = batch;
        Models = models;
    }

    private readonly decimal? _write5m, _write1h, _read, _batch;

    public string Version { get; }
    public string Date { get; }
    public string Currency { get; }
    public string? Source { get; }
    public string? DefaultModelName { get; }
    public IReadOnlyList<ModelPrice> Models { get; }
    public decimal CacheWrite5mMultiplier => _write5m ?? throw Missing("cacheWrite5mMultiplier");
    public decimal CacheWrite1hMultiplier => _write1h ?? throw Missing("cacheWrite1hMultiplier");
    public decimal CacheReadMultiplier => _read ?? throw Missing("cacheReadMultiplier");

    /// <summary>Fraction taken off every component of a batch request (0.5 = 50%).</summary>
    public decimal BatchDiscount => _batch ?? throw Missing("batchDiscount");

    private static readonly Lazy<PriceTable> DefaultTable = new(LoadDefault);

    /// <summary>The table shipped with Fathom (embedded resource <c>Cost/default-prices.json</c>).</summary>
    public static PriceTable Default => DefaultTable.Value;

    public static PriceTable Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PriceTableException($"price table '{path}' cannot be read: {ex.Message}");
        }
        return Parse(json, path);
    }

    /// <summary>Parses a table; multipliers may be left out (they come from the table it overrides).</summary>
    public static PriceTable Parse(string json, string sourceName = "price table")
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new PriceTableException($"{sourceName}: the top level must be a JSON object");
            int schema = (int)Integer(root, "schema", sourceName, required: true)!.Value;
            if (schema != SchemaVersion)
                throw new PriceTableException($"{sourceName}: schema {schema} is not supported (expected {SchemaVersion})");
            string version = Text(root, "version", sourceName, required: true)!;
            string date = Text(root, "date", sourceName, required: true)!;
            string currency = Text(root, "currency", sourceName, required: false) ?? "USD";
            var models = new List<ModelPrice>();
            if (!root.TryGetProperty("models", out var list) || list.ValueKind != JsonValueKind.Array)
                throw new PriceTableException($"{sourceName}: 'models' must be an array");
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            int i = 0;
            foreach (var m in list.EnumerateArray())
            {
                string where = $"{sourceName}: models[{i++}]";
                if (m.ValueKind != JsonValueKind.Object)
                    throw new PriceTableException($"{where} must be an object");
                string name = Text(m, "name", where, required: true)!;
                var aliases = new List<string>();
                if (m.TryGetProperty("aliases", out var a))
                {
                    if (a.ValueKind != JsonValueKind.Array || a.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                        throw new PriceTableException($"{where} ({name}): 'aliases' must be an array of strings");
                    aliases.AddRange(a.EnumerateArray().Select(x => x.GetString()!));
                }
                foreach (string key in aliases.Prepend(name))
                {
                    if (!names.Add(key))
                        throw new PriceTableException($"{where}: the name or alias '{key}' appears twice");
                }
                LongContextTier? tier = null;
                if (m.TryGetProperty("longContext", out var lc) && lc.ValueKind != JsonValueKind.Null)
                {
                    if (lc.ValueKind != JsonValueKind.Object)
                        throw new PriceTableException($"{where} ({name}): 'longContext' must be an object");
                    long threshold = Integer(lc, "threshold", where + ".longContext", required: true)!.Value;
                    if (threshold <= 0)
                        throw new PriceTableException($"{where} ({name}): longContext.threshold must be positive");
                    tier = new LongContextTier(threshold, Price(lc, "input", where + ".longContext"), Price(lc, "output", where + ".longContext"));
                }
                models.Add(new ModelPrice(name, aliases, Price(m, "input", where), Price(m, "output", where), tier));
            }
            var table = new PriceTable(version, date, currency, Text(root, "source", sourceName, false), Text(root, "defaultModel", sourceName, false),
                Multiplier(root, "cacheWrite5mMultiplier", sourceName), Multiplier(root, "cacheWrite1hMultiplier", sourceName),
                Multiplier(root, "cacheReadMultiplier", sourceName), Multiplier(root, "batchDiscount", sourceName), models);
            if (table._batch > 1)
                throw new PriceTableException($"{sourceName}: batchDiscount {table._batch} must be between 0 and 1");
            if (table.DefaultModelName is not null)
                table.Find(table.DefaultModelName);
            return table;
        }
        catch (JsonException ex)
        {
            throw new PriceTableException($"{sourceName}: not valid JSON ({ex.Message})");
        }
    }

    /// <summary>
    /// This table with <paramref name="user"/> on top: the user's models replace same-named ones (by name or alias)
    /// and are added otherwise; the user's multipliers, version and date win where given.
    /// </summary>
    public PriceTable OverrideWith(PriceTable user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var taken = new HashSet<string>(user.Models.SelectMany(m => m.Aliases.Prepend(m.Name)), StringComparer.OrdinalIgnoreCase);
        var models = Models.Where(m => !m.Aliases.Prepend(m.Name).Any(taken.Contains)).Concat(user.Models).ToList();
        var merged = new PriceTable(user.Version, user.Date, user.Currency, user.Source ?? Source, user.DefaultModelName ?? DefaultModelName,
            user._write5m ?? _write5m, user._write1h ?? _write1h, user._read ?? _read, user._batch ?? _batch, models);
        if (merged.DefaultModelName is not null && merged.TryFind(merged.DefaultModelName) is null)
            throw new PriceTableException($"the default model '{merged.DefaultModelName}' is not in the merged price table");
        return merged;
    }

    /// <summary>The model with this name or alias (case-insensitive).</summary>
    public ModelPrice Find(string name) => TryFind(name)
        ?? throw new PriceTableException($"model '{name}' is not in price table {Version}; known: {string.Join(", ", Models.Select(m => m.Name))}");

    public ModelPrice? TryFind(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)
            || m.Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)));
    }

    private PriceTableException Missing(string key) => new($"price table {Version} does not set '{key}'");

    private static PriceTable LoadDefault()
    {
        using var stream = typeof(PriceTable).Assembly.GetManifestResourceStream("Fathom.Cost.default-prices.json")
            ?? throw new PriceTableException("the default price table is missing from the assembly");
        using var reader = new StreamReader(stream);
        var table = Parse(reader.ReadToEnd(), "default price table");
        _ = (table.CacheWrite5mMultiplier, table.CacheWrite1hMultiplier, table.CacheReadMultiplier, table.BatchDiscount);
        return table;
    }

    private static string? Text(JsonElement e, string key, string where, bool required)
    {
        if (!e.TryGetProperty(key, out var v))
            return required ? throw new PriceTableException($"{where}: '{key}' is missing") : null;
        if (v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
            throw new PriceTableException($"{where}: '{key}' must be a non-empty string");
        return v.GetString();
    }

    private static long? Integer(JsonElement e, string key, string where, bool required)
    {
        if (!e.TryGetProperty(key, out var v))
            return required ? throw new PriceTableException($"{where}: '{key}' is missing") : null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n))
            throw new PriceTableException($"{where}: '{key}' must be an integer");
        return n;
    }

    private static decimal Price(JsonElement e, string key, string where)
    {
        if (!e.TryGetProperty(key, out var v))
            throw new PriceTableException($"{where}: '{key}' is missing");
        return NonNegative(v, key, where);
    }

    private static decimal? Multiplier(JsonElement e, string key, string where) =>
        e.TryGetProperty(key, out var v) ? NonNegative(v, key, where) : null;

    private static decimal NonNegative(JsonElement v, string key, string where)
    {
        // JSON numbers are read as decimals straight from their text: 0.1 stays exactly 0.1.
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDecimal(out decimal d))
            throw new PriceTableException($"{where}: '{key}' must be a number");
        if (d < 0)
            throw new PriceTableException($"{where}: '{key}' must not be negative ({d})");
        return d;
    }
}
