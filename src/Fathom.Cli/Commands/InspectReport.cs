using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Fathom.Gguf;

namespace Fathom.Cli.Commands;

/// <summary>What `fathom inspect` reports; the `--json` contract (schema "fathom.inspect/1", see docs/CLI.md).</summary>
internal sealed record InspectReport(
    string Schema,
    string File,
    long FileSize,
    uint GgufVersion,
    int Alignment,
    long DataOffset,
    int MetadataCount,
    string? Architecture,
    string? Name,
    uint? FileType,
    Dictionary<string, JsonNode?> Hyperparameters,
    TokenizerSummary? Tokenizer,
    int TensorCount,
    long ParameterCount,
    long TensorBytes,
    double? BitsPerWeight,
    Dictionary<string, int> TensorTypes,
    List<TensorEntry> Tensors)
{
    public const string SchemaId = "fathom.inspect/1";

    private const int MaxJsonArrayItems = 1024;

    public static InspectReport From(GgufFile file)
    {
        string? arch = file.Find(GgufKeys.General.Architecture)?.Value as string;
        var hyper = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (arch is not null)
        {
            foreach (var (key, value) in file.Metadata)
                if (key.StartsWith(arch + ".", StringComparison.Ordinal))
                    hyper[key] = ToJson(value.Value);
        }

        var tensors = new List<TensorEntry>(file.Tensors.Count);
        var types = new SortedDictionary<GgmlType, int>();
        long bytes = 0;
        foreach (var t in file.Tensors)
        {
            tensors.Add(new TensorEntry(t.Name, t.Type.ToString(), t.Dimensions, t.ElementCount, t.ByteSize, t.FileOffset));
            types[t.Type] = types.GetValueOrDefault(t.Type) + 1;
            bytes += t.ByteSize;
        }
        long parameters = file.ParameterCount;

        return new InspectReport(
            SchemaId,
            file.Path ?? "",
            file.FileSize,
            file.Version,
            file.Alignment,
            file.DataOffset,
            file.Metadata.Count,
            arch,
            file.Find(GgufKeys.General.Name)?.Value as string,
            file.Find(GgufKeys.General.FileType)?.Value is uint ft ? ft : null,
            hyper,
            TokenizerSummary.From(file),
            file.Tensors.Count,
            parameters,
            bytes,
            parameters > 0 ? Math.Round(bytes * 8.0 / parameters, 4) : null,
            types.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
            tensors);
    }

    /// <summary>A metadata value as JSON: scalars as themselves, arrays as JSON arrays (long ones summarised as a string).</summary>
    internal static JsonNode? ToJson(object value) => value switch
    {
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        byte x => JsonValue.Create(x),
        sbyte x => JsonValue.Create(x),
        ushort x => JsonValue.Create(x),
        short x => JsonValue.Create(x),
        uint x => JsonValue.Create(x),
        int x => JsonValue.Create(x),
        ulong x => JsonValue.Create(x),
        long x => JsonValue.Create(x),
        float x => float.IsFinite(x) ? JsonValue.Create(x) : JsonValue.Create(x.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
        double x => double.IsFinite(x) ? JsonValue.Create(x) : JsonValue.Create(x.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
        GgufArray a when a.Count <= MaxJsonArrayItems => new JsonArray(a.Items.Cast<object>().Select(ToJson).ToArray()),
        GgufArray a => JsonValue.Create(GgufValue.Of(a).ToString()),
        _ => JsonValue.Create(value.ToString()),
    };
}

internal sealed record TokenizerSummary(
    string? Model,
    string? Pre,
    int? VocabSize,
    int? MergeCount,
    bool? AddBos,
    bool? AddEos,
    List<SpecialToken> SpecialTokens,
    bool ChatTemplate,
    List<string> NamedChatTemplates)
{
    private const string Prefix = "tokenizer.ggml.";
    private const string IdSuffix = "_token_id";

    public static TokenizerSummary? From(GgufFile file)
    {
        if (!file.Metadata.Any(kv => kv.Key.StartsWith("tokenizer.", StringComparison.Ordinal)))
            return null;
        string[]? tokens = file.Find(GgufKeys.Tokenizer.Tokens)?.Value is GgufArray { Items: string[] t } ? t : null;
        var special = new List<SpecialToken>();
        foreach (var (key, value) in file.Metadata)
        {
            if (!key.StartsWith(Prefix, StringComparison.Ordinal) || !key.EndsWith(IdSuffix, StringComparison.Ordinal))
                continue;
            long? id = value.Value switch
            {
                uint x => x,
                int x => x,
                ulong x when x <= long.MaxValue => (long)x,
                long x => x,
                ushort x => x,
                short x => x,
                byte x => x,
                sbyte x => x,
                _ => null,
            };
            if (id is null)
                continue;
            string role = key[Prefix.Length..^IdSuffix.Length];
            string? text = tokens is not null && id >= 0 && id < tokens.Length ? tokens[id.Value] : null;
            special.Add(new SpecialToken(role, id.Value, text));
        }
        const string templatePrefix = GgufKeys.Tokenizer.ChatTemplate + ".";
        return new TokenizerSummary(
            file.Find(GgufKeys.Tokenizer.Model)?.Value as string,
            file.Find(GgufKeys.Tokenizer.Pre)?.Value as string,
            tokens?.Length,
            file.Find(GgufKeys.Tokenizer.Merges)?.Value is GgufArray m ? m.Count : null,
            file.Find(GgufKeys.Tokenizer.AddBos)?.Value as bool?,
            file.Find(GgufKeys.Tokenizer.AddEos)?.Value as bool?,
            special,
            file.Find(GgufKeys.Tokenizer.ChatTemplate)?.Value is string,
            file.Metadata.Where(kv => kv.Key.StartsWith(templatePrefix, StringComparison.Ordinal) && kv.Value.Value is string)
                .Select(kv => kv.Key[templatePrefix.Length..]).ToList());
    }
}

internal sealed record SpecialToken(string Role, long Id, string? Text);

internal sealed record TensorEntry(string Name, string Type, long[] Shape, long Elements, long Bytes, long Offset);

[JsonSerializable(typeof(InspectReport))]
internal sealed partial class InspectJsonContext : JsonSerializerContext
{
    // Token texts such as "<|eot_id|>" stay readable: only what JSON itself requires is escaped.
    private static readonly InspectJsonContext Readable = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    public static string Serialize(InspectReport report) => JsonSerializer.Serialize(report, Readable.InspectReport);
}
