using System.Text;
using System.Text.Json;

namespace Fathom.Tools;

public enum ToolCallEventKind
{
    /// <summary>Answer text (<see cref="ToolCallEvent.Text"/>).</summary>
    Text,

    /// <summary>A call starts: <see cref="ToolCallEvent.Text"/> is the tool's name.</summary>
    CallStart,

    /// <summary>A fragment of the call's arguments JSON; the fragments of one call concatenate to a JSON object.</summary>
    Arguments,

    /// <summary>The call's arguments are complete.</summary>
    CallEnd,
}

/// <summary>One step of parsed output; <see cref="Index"/> numbers the calls of the turn from 0.</summary>
public readonly record struct ToolCallEvent(ToolCallEventKind Kind, int Index, string Text);

/// <summary>A complete tool call: the tool's name and its arguments as a JSON object text (and, in a conversation's history, its id).</summary>
public sealed record ToolCall(string Name, string Arguments)
{
    public string? Id { get; init; }
}

/// <summary>A turn's output split into its text and its tool calls.</summary>
public sealed record ParsedToolCalls(string Text, IReadOnlyList<ToolCall> Calls);

/// <summary>
/// Splits a model's streamed output into text and tool calls in one family's syntax (<see cref="ToolCallFormat"/>).
/// Text that may be the start of a call is held back until it is decided, so the result does not depend on how the
/// output is chunked. A call is announced (<see cref="ToolCallEventKind.CallStart"/>) once its name is known, and its
/// arguments stream as they arrive, checked as JSON character by character. Output that only looks like a call
/// (bad JSON, an unknown tool) stays text. With <c>holdCalls</c>, a call's events are released only once its
/// arguments are complete and valid, so a call that breaks midway is reported as text; without it, a call that breaks
/// after it was announced (or is cut off) is closed with the shortest JSON that completes its arguments.
/// One instance per generation; not thread-safe.
/// </summary>
public sealed class ToolCallParser
{
    private enum Mode { Text, Header, Args, StringArgs, XmlParams, Trailer }

    private readonly ToolSyntax? _syntax;
    private readonly IReadOnlySet<string>? _names;
    private readonly bool _hold;
    private readonly List<ToolCallEvent> _out = [];
    private readonly List<ToolCallEvent> _held = [];
    private readonly StringBuilder _fragment = new();
    private string _in = "";
    private int _pos;
    private Mode _mode;
    private int _regionStart;
    private string _opener = "";
    private int _headerStart;
    private int _trailerStart;
    private int _form = -1;
    private int _calls;
    private bool _afterCall;
    private bool _regionHasCalls;

    // Held calls: the region text already compacted out of _in (region = _regionText + _in[_regionStart..]),
    // and where the current call's header starts in it, so a call that breaks can still be given back as text.
    private readonly StringBuilder _regionText = new();
    private int _headerOffset;
    private JsonPrefixScanner? _scanner;

    // XML parameters: the declared schemas, the current call's tool, how many parameters it has so far, the current
    // parameter (its schema, whether its value streams as a raw string), and what closes the arguments if it breaks.
    private readonly Dictionary<string, JsonElement?>? _schemas;
    private string _callName = "";
    private int _xmlCount;
    private bool _xmlInValue;
    private bool _xmlRaw;
    private bool _xmlValueStarted;
    private JsonElement? _xmlSchema;

    /// <param name="format">The syntax to read; <see cref="ToolCallFormat.None"/> passes everything through as text.</param>
    /// <param name="toolNames">The declared tools; a call to any other name stays text. Null accepts any name.</param>
    /// <param name="holdCalls">Release each call only once it is complete and valid (see the class remarks).</param>
    public ToolCallParser(ToolCallFormat format, IEnumerable<string>? toolNames = null, bool holdCalls = false)
    {
        Format = format;
        _syntax = format == ToolCallFormat.None ? null : ToolSyntax.For(format);
        _names = toolNames is null ? null : new HashSet<string>(toolNames, StringComparer.Ordinal);
        _hold = holdCalls;
    }

    /// <summary>
    /// A parser that also knows each tool's JSON Schema, which the XML format (<see cref="ToolCallFormat.Qwen3Coder"/>)
    /// needs to type parameter values; only the declared tools are calls.
    /// </summary>
    public ToolCallParser(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, bool holdCalls = false)
        : this(format, (tools ?? throw new ArgumentNullException(nameof(tools))).Select(t => t.Name), holdCalls)
    {
        _schemas = new Dictionary<string, JsonElement?>(StringComparer.Ordinal);
        foreach (var t in tools)
            _schemas[t.Name] = t.Parameters;
    }

    public ToolCallFormat Format { get; }

    /// <summary>Calls started so far.</summary>
    public int CallCount => _calls;

    /// <summary>True while the parser is inside something that may be a tool call.</summary>
    public bool InCall => _mode != Mode.Text;

    /// <summary>Feeds generated text; returns the events it decided.</summary>
    public IReadOnlyList<ToolCallEvent> Push(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _out.Clear();
        if (_syntax is null)
        {
            if (text.Length > 0)
                _out.Add(new ToolCallEvent(ToolCallEventKind.Text, 0, text));
            return [.. _out];
        }
        _in = _in.Length == 0 ? text : _in + text;
        Run(final: false);
        Compact();
        return [.. _out];
    }

    /// <summary>The output ended: decides everything still held back.</summary>
    public IReadOnlyList<ToolCallEvent> Complete()
    {
        _out.Clear();
        if (_syntax is null)
            return [];
        Run(final: true);
        _in = "";
        _pos = 0;
        return [.. _out];
    }

    /// <summary>Splits a whole output (non-streaming); calls that are not complete, valid JSON stay text.</summary>
    public static ParsedToolCalls Parse(ToolCallFormat format, string text, IEnumerable<string>? toolNames = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Collect(new ToolCallParser(format, toolNames, holdCalls: true), text);
    }

    /// <summary>Like <see cref="Parse(ToolCallFormat, string, IEnumerable{string})"/>, typing XML parameter values by each tool's schema.</summary>
    public static ParsedToolCalls Parse(ToolCallFormat format, string text, IReadOnlyList<ToolDefinition> tools)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Collect(new ToolCallParser(format, tools, holdCalls: true), text);
    }

    private static ParsedToolCalls Collect(ToolCallParser parser, string text)
    {
        var sb = new StringBuilder();
        var names = new List<string>();
        var args = new List<StringBuilder>();
        foreach (var e in parser.Push(text).Concat(parser.Complete()))
        {
            switch (e.Kind)
            {
                case ToolCallEventKind.Text:
                    sb.Append(e.Text);
                    break;
                case ToolCallEventKind.CallStart:
                    names.Add(e.Text);
                    args.Add(new StringBuilder());
                    break;
                case ToolCallEventKind.Arguments:
                    args[e.Index].Append(e.Text);
                    break;
            }
        }
        return new ParsedToolCalls(sb.ToString(), [.. names.Select((n, i) => new ToolCall(n, args[i].ToString()))]);
    }

    private void Run(bool final)
    {
        while (true)
        {
            switch (_mode)
            {
                case Mode.Text:
                    if (!ScanText(final))
                        return;
                    break;
                case Mode.Header:
                    if (!ParseHeader(final))
                        return;
                    break;
                case Mode.Args:
                    if (!ScanArgs(final))
                        return;
                    break;
                case Mode.StringArgs:
                    if (!ParseStringArgs(final))
                        return;
                    break;
                case Mode.XmlParams:
                    if (!ParseXmlParams(final))
                        return;
                    break;
                default:
                    if (!ParseTrailer(final))
                        return;
                    break;
            }
        }
    }

    /// <summary>Emits text up to the next opener (entering a region) or up to a possible partial opener. False: wait for more.</summary>
    private bool ScanText(bool final)
    {
        int best = -1;
        string opener = "";
        foreach (string o in _syntax!.Openers)
        {
            int at = _in.IndexOf(o, _pos, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best || (at == best && o.Length > opener.Length)))
            {
                best = at;
                opener = o;
            }
        }
        if (best >= 0)
        {
            EmitText(_in[_pos..best]);
            _pos = _regionStart = _headerStart = best;
            _opener = opener;
            _regionHasCalls = false;
            _regionText.Clear();
            _form = -1;
            _mode = Mode.Header;
            return true;
        }
        int hold = 0;
        if (!final)
        {
            foreach (string o in _syntax.Openers)
            {
                for (int len = Math.Min(o.Length - 1, _in.Length - _pos); len > hold; len--)
                {
                    if (_in.AsSpan(_in.Length - len).SequenceEqual(o.AsSpan(0, len)))
                    {
                        hold = len;
                        break;
                    }
                }
            }
        }
        EmitText(_in[_pos..(_in.Length - hold)]);
        _pos = _in.Length - hold;
        return false;
    }

    private bool ParseHeader(bool final)
    {
        var c = new SyntaxCursor(_in.AsSpan(_headerStart), final);
        var m = _syntax!.Header(ref c, _form, out CallHeader header);
        if (m == Match.More)
            return false;
        if (m == Match.Fail || (_names is not null && !_names.Contains(header.Name)))
        {
            FailHeader();
            return true;
        }
        int argsAt = _headerStart + c.Pos;
        if (_syntax.XmlArguments)
        {
            _form = header.Form;
            Emit(new ToolCallEvent(ToolCallEventKind.CallStart, _calls, header.Name));
            _callName = header.Name;
            _xmlCount = 0;
            _xmlInValue = false;
            _pos = argsAt;
            _mode = Mode.XmlParams;
            _headerOffset = _regionText.Length + (_headerStart - _regionStart);
            return true;
        }
        if (!header.NoArgs)
        {
            while (argsAt < _in.Length && char.IsWhiteSpace(_in[argsAt]))
                argsAt++;
            if (argsAt == _in.Length)
            {
                if (!final)
                    return false;
                FailHeader();
                return true;
            }
            if (_in[argsAt] is not ('{' or '"'))
            {
                FailHeader();
                return true;
            }
        }
        _form = header.Form;
        Emit(new ToolCallEvent(ToolCallEventKind.CallStart, _calls, header.Name));
        if (header.NoArgs)
        {
            Emit(new ToolCallEvent(ToolCallEventKind.Arguments, _calls, "{}"));
            _trailerStart = _pos = argsAt;
            _mode = Mode.Trailer;
        }
        else
        {
            _pos = argsAt;
            _mode = _in[argsAt] == '{' ? Mode.Args : Mode.StringArgs;
            _scanner = new JsonPrefixScanner();
            _headerOffset = _regionText.Length + (_headerStart - _regionStart);
        }
        return true;
    }

    private bool ScanArgs(bool final)
    {
        var scanner = _scanner!;
        int i = _pos;
        for (; i < _in.Length; i++)
        {
            var step = scanner.Push(_in[i]);
            if (step is JsonStep.Invalid or JsonStep.EndedBefore)
            {
                _fragment.Append(_in, _pos, i - _pos);
                _pos = i;
                FailArgs(scanner.RepairSuffix());
                return true;
            }
            if (step == JsonStep.Complete)
            {
                _fragment.Append(_in, _pos, i + 1 - _pos);
                FlushFragment();
                _trailerStart = _pos = i + 1;
                _mode = Mode.Trailer;
                return true;
            }
        }
        _fragment.Append(_in, _pos, i - _pos);
        _pos = i;
        if (!final)
        {
            if (!_hold)
                FlushFragment();
            return false;
        }
        FailArgs(scanner.RepairSuffix());
        return true;
    }

    /// <summary>Arguments given as a JSON string holding the object (some fine-tunes do this): decoded when complete.</summary>
    private bool ParseStringArgs(bool final)
    {
        var c = new SyntaxCursor(_in.AsSpan(_pos), final);
        var m = c.String(out string? inner);
        if (m == Match.More)
            return false;
        string? args = m == Match.Ok ? NormalizeObject(inner!) : null;
        if (args is null)
        {
            FailArgs("{}");
            return true;
        }
        _fragment.Append(args);
        FlushFragment();
        _trailerStart = _pos += c.Pos;
        _mode = Mode.Trailer;
        return true;
    }

    private const string ParamOpen = "<parameter=";
    private const string ParamClose = "</parameter>";

    /// <summary>XML parameters up to <c>&lt;/function&gt;</c>, emitted as the fragments of one JSON object. False: wait for more.</summary>
    private bool ParseXmlParams(bool final)
    {
        while (true)
        {
            if (_xmlInValue)
            {
                if (!_xmlValueStarted)
                {
                    // the value starts after one newline
                    if (_pos == _in.Length)
                        return final ? FailXml() : false;
                    if (_in[_pos] == '\n')
                        _pos++;
                    _xmlValueStarted = true;
                }
                int close = _in.IndexOf(ParamClose, _pos, StringComparison.Ordinal);
                if (close < 0)
                {
                    if (final)
                        return FailXml();
                    if (_xmlRaw)
                    {
                        // stream what cannot be the start of "\n</parameter>"
                        int hold = 0;
                        string tail = "\n" + ParamClose;
                        for (int len = Math.Min(tail.Length - 1, _in.Length - _pos); len > 0; len--)
                        {
                            if (_in.AsSpan(_in.Length - len).SequenceEqual(tail.AsSpan(0, len)))
                            {
                                hold = len;
                                break;
                            }
                        }
                        if (_in.Length - hold > _pos && char.IsHighSurrogate(_in[_in.Length - hold - 1]))
                            hold++;
                        if (_in.Length - hold > _pos)
                        {
                            _fragment.Append(Escaped(_in[_pos..(_in.Length - hold)]));
                            _pos = _in.Length - hold;
                            if (!_hold)
                                FlushFragment();
                        }
                    }
                    return false;
                }
                int end = close > _pos && _in[close - 1] == '\n' ? close - 1 : close;
                string value = _in[_pos..end];
                _fragment.Append(_xmlRaw ? Escaped(value) + "\"" : XmlToolValues.ToJson(_xmlSchema, value));
                FlushFragment();
                _pos = close + ParamClose.Length;
                _xmlInValue = false;
                _xmlCount++;
                continue;
            }
            while (_pos < _in.Length && char.IsWhiteSpace(_in[_pos]))
                _pos++;
            var c = new SyntaxCursor(_in.AsSpan(_pos), final);
            var m = c.Lit("</function>");
            if (m == Match.More)
                return false;
            if (m == Match.Ok)
            {
                _fragment.Append(_xmlCount == 0 ? "{}" : "}");
                FlushFragment();
                _trailerStart = _pos += c.Pos;
                _mode = Mode.Trailer;
                return true;
            }
            string name = "";
            m = c.Lit(ParamOpen);
            if (m == Match.Ok)
                m = c.Until(out name, 256, ">", "\n");
            if (m == Match.More)
                return false;
            if (m == Match.Fail || c.Lit(">") != Match.Ok)
                return FailXml();
            string key = name.Trim();
            if (key.Length == 0)
                return FailXml();
            _pos += c.Pos;
            _xmlSchema = _schemas is not null && _schemas.TryGetValue(_callName, out var tool) ? XmlToolValues.Property(tool, key) : null;
            _xmlRaw = _xmlSchema is not { } ps || XmlToolValues.IsRawString(ps);
            _fragment.Append(_xmlCount == 0 ? "{" : ", ").Append(JsonSerializer.Serialize(key, ToolJson.Default.String)).Append(": ");
            if (_xmlRaw)
                _fragment.Append('"');
            _xmlInValue = true;
            _xmlValueStarted = false;
        }
    }

    /// <summary>A string's characters as they appear inside a JSON string literal.</summary>
    private static string Escaped(string s)
    {
        string quoted = JsonSerializer.Serialize(s, ToolJson.Default.String);
        return quoted[1..^1];
    }

    /// <summary>Malformed parameters: the call breaks (closed with what completes its JSON, or given back as text when held).</summary>
    private bool FailXml()
    {
        string repair = _xmlInValue ? (_xmlRaw ? "\"}" : "null}") : _xmlCount == 0 ? "{}" : "}";
        _xmlInValue = false;
        FailArgs(repair);
        return true;
    }

    private bool ParseTrailer(bool final)
    {
        var c = new SyntaxCursor(_in.AsSpan(_trailerStart), final);
        var m = _syntax!.Trailer(ref c, _form, out bool more);
        if (m == Match.More)
            return false;
        EndCall();
        if (m == Match.Fail)
        {
            // The call itself is complete; what follows it is text.
            _pos = _trailerStart;
            _mode = Mode.Text;
            return true;
        }
        _pos = _trailerStart + c.Pos;
        if (more)
        {
            _headerStart = _pos;
            _mode = Mode.Header;
        }
        else
        {
            _mode = Mode.Text;
            _afterCall = true;
        }
        return true;
    }

    /// <summary>Not a call after all: the opener is text (or, after earlier calls of the region, the rest is).</summary>
    private void FailHeader()
    {
        if (!_regionHasCalls)
        {
            EmitText(_opener);
            _pos = _regionStart + _opener.Length;
        }
        else
            _pos = _headerStart;
        _mode = Mode.Text;
    }

    private void FailArgs(string repair)
    {
        if (_hold)
        {
            // Drop the call; everything from its header on is text.
            _held.Clear();
            _fragment.Clear();
            if (_regionText.Length > 0)
            {
                _in = _regionText.ToString() + _in[_regionStart..];
                _pos -= _regionStart - _regionText.Length;
                _regionStart = 0;
                _regionText.Clear();
            }
            _headerStart = _regionStart + _headerOffset;
            FailHeader();
            return;
        }
        _fragment.Append(repair);
        FlushFragment();
        EndCall();
        _mode = Mode.Text;
    }

    private void EndCall()
    {
        Emit(new ToolCallEvent(ToolCallEventKind.CallEnd, _calls, ""));
        _calls++;
        _regionHasCalls = true;
        _out.AddRange(_held);
        _held.Clear();
    }

    private void FlushFragment()
    {
        if (_fragment.Length == 0)
            return;
        Emit(new ToolCallEvent(ToolCallEventKind.Arguments, _calls, _fragment.ToString()));
        _fragment.Clear();
    }

    private void Emit(ToolCallEvent e)
    {
        if (_hold)
        {
            if (e.Kind == ToolCallEventKind.Arguments && _held.Count > 0 && _held[^1].Kind == ToolCallEventKind.Arguments)
                _held[^1] = e with { Text = _held[^1].Text + e.Text };
            else
                _held.Add(e);
        }
        else
            _out.Add(e);
    }

    private void EmitText(string text)
    {
        if (_afterCall)
        {
            // Whitespace between calls (and after the last) is layout, not text.
            text = text.TrimStart();
            if (text.Length == 0)
                return;
            _afterCall = false;
        }
        if (text.Length == 0)
            return;
        if (_out.Count > 0 && _out[^1].Kind == ToolCallEventKind.Text)
            _out[^1] = _out[^1] with { Text = _out[^1].Text + text };
        else
            _out.Add(new ToolCallEvent(ToolCallEventKind.Text, 0, text));
    }

    /// <summary>Drops text that is decided, so long arguments never make the buffer grow quadratically.</summary>
    private void Compact()
    {
        if (_mode is Mode.Args or Mode.XmlParams)
        {
            if (_hold)
                _regionText.Append(_in, _regionStart, _pos - _regionStart);
            _in = _in[_pos..];
            _pos = 0;
            _regionStart = _headerStart = 0;
            return;
        }
        int keep = _mode == Mode.Text ? _pos : _regionStart;
        if (keep == 0)
            return;
        _in = _in[keep..];
        _pos -= keep;
        _regionStart -= keep;
        _headerStart -= keep;
        _trailerStart -= keep;
    }

    private static string? NormalizeObject(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.GetRawText() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
