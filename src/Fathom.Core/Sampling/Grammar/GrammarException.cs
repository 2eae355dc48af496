namespace Fathom.Sampling;

/// <summary>A GBNF grammar that cannot be used; <see cref="Line"/> and <see cref="Column"/> (1-based) say where.</summary>
public sealed class GrammarException : Exception
{
    public GrammarException(string message, int line, int column)
        : base($"grammar error at line {line}, column {column}: {message}")
    {
        Line = line;
        Column = column;
        Reason = message;
    }

    public GrammarException(string message) : base(message) => Reason = message;

    public GrammarException(string message, Exception innerException) : base(message, innerException) => Reason = message;

    public GrammarException() => Reason = "";

    /// <summary>1-based line of the problem (0 when it has no place in the text).</summary>
    public int Line { get; }

    /// <summary>1-based column (in UTF-16 characters) of the problem (0 when it has no place).</summary>
    public int Column { get; }

    /// <summary>The message without the place.</summary>
    public string Reason { get; }
}

/// <summary>
/// A JSON Schema that cannot be turned into a grammar: invalid, or using a feature the compiler does not support
/// (<see cref="UnsupportedFeature"/> names it). <see cref="Pointer"/> is the JSON pointer of the offending schema.
/// </summary>
public sealed class JsonSchemaException : Exception
{
    public JsonSchemaException(string message, string pointer, string? unsupportedFeature = null)
        : base($"{message} (at {(pointer.Length == 0 ? "#" : "#" + pointer)})")
    {
        Pointer = pointer;
        UnsupportedFeature = unsupportedFeature;
        Reason = message;
    }

    public JsonSchemaException(string message) : base(message)
    {
        Pointer = "";
        Reason = message;
    }

    public JsonSchemaException(string message, Exception innerException) : base(message, innerException)
    {
        Pointer = "";
        Reason = message;
    }

    public JsonSchemaException()
    {
        Pointer = "";
        Reason = "";
    }

    /// <summary>JSON pointer (RFC 6901, without the leading '#') of the schema that fails; "" is the root.</summary>
    public string Pointer { get; }

    /// <summary>The keyword or value that is not supported (e.g. "uniqueItems"), or null when the schema is invalid.</summary>
    public string? UnsupportedFeature { get; }

    /// <summary>The message without the place.</summary>
    public string Reason { get; }
}
