using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Templates;

/// <summary>
/// A parsed chat template (a GGUF's <c>tokenizer.chat_template</c>), rendered exactly as Python Jinja2 does in the
/// environment transformers sets up: trim_blocks, lstrip_blocks, loop controls, an immutable sandbox,
/// transformers' tojson, raise_exception and strftime_now.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>Pass as <see cref="ChatTemplateOptions.Tools"/>/<see cref="ChatTemplateOptions.Documents"/> or a variable to leave it undefined.</summary>
    public static readonly object Undefined = new UndefinedMarker();

    private readonly Stmt[] _body;

    private ChatTemplate(string source, Stmt[] body)
    {
        Source = source;
        _body = body;
    }

    public string Source { get; }

    /// <summary>Parses a template. Throws <see cref="TemplateSyntaxException"/> with line and column when it is not valid Jinja.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, Parser.Parse(source));
    }

    /// <summary>Renders the conversation. Throws <see cref="TemplateRaisedException"/> when the template calls raise_exception,
    /// and <see cref="TemplateRuntimeException"/> for any other failure (with line and column).</summary>
    public string Render(object? messages, ChatTemplateOptions? options = null)
    {
        options ??= new ChatTemplateOptions();
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (messages is not UndefinedMarker)
            vars["messages"] = ToValue(messages, 0);
        if (options.Tools is not UndefinedMarker)
            vars["tools"] = ToValue(options.Tools, 0);
        if (options.Documents is not UndefinedMarker)
            vars["documents"] = ToValue(options.Documents, 0);
        vars["add_generation_prompt"] = options.AddGenerationPrompt;
        vars["bos_token"] = options.BosToken;
        vars["eos_token"] = options.EosToken;
        if (options.Variables is not null)
        {
            foreach (var (k, v) in options.Variables)
            {
                if (v is UndefinedMarker)
                    vars.Remove(k);
                else
                    vars[k] = ToValue(v, 0);
            }
        }
        DateTime now = options.Now ?? (options.Clock ?? TimeProvider.System).GetLocalNow().DateTime;
        var ev = new Evaluator(options.Limits, now);
        Scope globals = Globals.Create();
        var context = new Scope(globals);
        foreach (var (k, v) in vars)
            context.Set(k, v);
        try
        {
            return ev.Render(_body, new Scope(context));
        }
        catch (RaisedException ex)
        {
            throw new TemplateRaisedException(ex.Message, ev.Line, ev.Column);
        }
        catch (PyException ex)
        {
            throw new TemplateRuntimeException(ex.Message, ev.Line, ev.Column);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateRuntimeException("RecursionError: template nesting too deep", ev.Line, ev.Column);
        }
    }

    /// <summary>Converts caller data to template values; only known data types, never reflection.</summary>
    internal static object? ToValue(object? v, int depth)
    {
        if (depth > 256)
            throw new ArgumentException("template input nested deeper than 256 levels");
        switch (v)
        {
            case null: return null;
            case UndefinedMarker: return Templates.Undefined.Instance;
            case string or bool or long or double: return v;
            case int i: return (long)i;
            case short s: return (long)s;
            case byte b: return (long)b;
            case sbyte sb: return (long)sb;
            case ushort us: return (long)us;
            case uint ui: return (long)ui;
            case ulong ul: return ul <= long.MaxValue ? (long)ul : new System.Numerics.BigInteger(ul);
            case System.Numerics.BigInteger bi: return bi >= long.MinValue && bi <= long.MaxValue ? (long)bi : bi;
            case float f: return (double)f;
            case decimal m: return (double)m;
            case char c: return c.ToString();
            case JsonElement e: return FromJson(e, depth);
            case JsonNode n: return FromJsonNode(n, depth);
            case IDictionary<string, object?> d:
            {
                var dict = new PyDict();
                foreach (var (k, val) in d)
                    dict.Set(k, ToValue(val, depth + 1));
                return dict;
            }
            case IReadOnlyDictionary<string, object?> rd:
            {
                var dict = new PyDict();
                foreach (var (k, val) in rd)
                    dict.Set(k, ToValue(val, depth + 1));
                return dict;
            }
            case IDictionary nd:
            {
                var dict = new PyDict();
                foreach (DictionaryEntry de in nd)
                    dict.Set(ToValue(de.Key, depth + 1), ToValue(de.Value, depth + 1));
                return dict;
            }
            case IEnumerable list:
            {
                var items = new List<object?>();
                foreach (object? item in list)
                    items.Add(ToValue(item, depth + 1));
                return new PyList(items);
            }
            default:
                throw new ArgumentException($"unsupported template value type {v.GetType().Name}");
        }
    }

    internal static object? FromJson(JsonElement e, int depth)
    {
        if (depth > 256)
            throw new ArgumentException("template input nested deeper than 256 levels");
        switch (e.ValueKind)
        {
            case JsonValueKind.Null or JsonValueKind.Undefined: return null;
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.String: return e.GetString();
            case JsonValueKind.Number:
            {
                string raw = e.GetRawText();
                if (raw.AsSpan().IndexOfAny(".eE") < 0)
                {
                    // Python ints are unbounded: ids past 2^63 must print exactly, not as a float.
                    if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
                        return l;
                    return System.Numerics.BigInteger.Parse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                }
                return double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
            case JsonValueKind.Array:
            {
                var items = new List<object?>(e.GetArrayLength());
                foreach (JsonElement item in e.EnumerateArray())
                    items.Add(FromJson(item, depth + 1));
                return new PyList(items);
            }
            default:
            {
                var dict = new PyDict();
                foreach (JsonProperty p in e.EnumerateObject())
                    dict.Set(p.Name, FromJson(p.Value, depth + 1));
                return dict;
            }
        }
    }

    private static object? FromJsonNode(JsonNode? n, int depth)
    {
        if (depth > 256)
            throw new ArgumentException("template input nested deeper than 256 levels");
        switch (n)
        {
            case null:
                return null;
            case JsonObject o:
            {
                var dict = new PyDict();
                foreach (var (k, val) in o)
                    dict.Set(k, FromJsonNode(val, depth + 1));
                return dict;
            }
            case JsonArray a:
                return new PyList([.. a.Select(x => FromJsonNode(x, depth + 1))]);
            default:
            {
                using var doc = JsonDocument.Parse(n.ToJsonString());
                return FromJson(doc.RootElement, depth);
            }
        }
    }

    private sealed class UndefinedMarker
    {
        public override string ToString() => "Undefined";
    }
}
