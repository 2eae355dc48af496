using System.Globalization;
using System.Text;

namespace Fathom.Templates;

/// <summary>Python's json.dumps, as transformers' tojson override calls it (ensure_ascii=False by default, insertion order).</summary>
internal sealed class JsonDumps
{
    private readonly bool _ensureAscii;
    private readonly string? _indent;
    private readonly string _itemSep;
    private readonly string _keySep;
    private readonly bool _sortKeys;
    private readonly Evaluator _ev;
    private readonly StringBuilder _sb = new();

    public JsonDumps(Evaluator ev, bool ensureAscii, string? indent, string? itemSep, string? keySep, bool sortKeys)
    {
        _ev = ev;
        _ensureAscii = ensureAscii;
        _indent = indent;
        _itemSep = itemSep ?? (indent is null ? ", " : ",");
        _keySep = keySep ?? ": ";
        _sortKeys = sortKeys;
    }

    public string Dump(object? value)
    {
        Write(value, 0);
        return _sb.ToString();
    }

    private void Newline(int level)
    {
        if (_indent is null)
            return;
        _sb.Append('\n');
        for (int i = 0; i < level; i++)
            _sb.Append(_indent);
    }

    private void Write(object? v, int level)
    {
        if (level > 500)
            throw new PyException("RecursionError: maximum recursion depth exceeded while encoding a JSON object");
        _ev.CheckSize(_sb.Length);
        switch (v)
        {
            case null: _sb.Append("null"); break;
            case bool b: _sb.Append(b ? "true" : "false"); break;
            case long l: _sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case System.Numerics.BigInteger big: _sb.Append(big.ToString(CultureInfo.InvariantCulture)); break;
            case double d: _sb.Append(Float(d)); break;
            case string s: WriteString(s); break;
            case Markup m: WriteString(m.Value); break;
            case PyList list:
                if (list.Count == 0)
                {
                    _sb.Append("[]");
                    break;
                }
                _sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                        _sb.Append(_itemSep);
                    Newline(level + 1);
                    Write(list[i], level + 1);
                }
                Newline(level);
                _sb.Append(']');
                break;
            case PyDict dict:
            {
                if (dict.Count == 0)
                {
                    _sb.Append("{}");
                    break;
                }
                IEnumerable<KeyValuePair<object, object?>> entries = dict.Map;
                if (_sortKeys)
                {
                    var sorted = dict.Map.ToList();
                    sorted.Sort((x, y) => Py.Compare(PyDict.Unkey(x.Key), PyDict.Unkey(y.Key)));
                    entries = sorted;
                }
                _sb.Append('{');
                bool first = true;
                foreach (var kv in entries)
                {
                    if (!first)
                        _sb.Append(_itemSep);
                    first = false;
                    Newline(level + 1);
                    WriteString(KeyString(PyDict.Unkey(kv.Key)));
                    _sb.Append(_keySep);
                    Write(kv.Value, level + 1);
                }
                Newline(level);
                _sb.Append('}');
                break;
            }
            default:
                throw new PyException($"TypeError: Object of type {Py.TypeName(v)} is not JSON serializable");
        }
    }

    private static string KeyString(object? k) => k switch
    {
        string s => s,
        null => "null",
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => Float(d),
        _ => throw new PyException($"TypeError: keys must be str, int, float, bool or None, not {Py.TypeName(k)}"),
    };

    private static string Float(double d) => double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity"
        : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FloatRepr(d);

    private void WriteString(string s)
    {
        _sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': _sb.Append("\\\""); break;
                case '\\': _sb.Append("\\\\"); break;
                case '\n': _sb.Append("\\n"); break;
                case '\r': _sb.Append("\\r"); break;
                case '\t': _sb.Append("\\t"); break;
                case '\b': _sb.Append("\\b"); break;
                case '\f': _sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (_ensureAscii && c > 0x7e))
                        _sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        _sb.Append(c);
                    break;
            }
        }
        _sb.Append('"');
    }
}
