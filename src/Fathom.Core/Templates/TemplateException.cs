namespace Fathom.Templates;

/// <summary>A chat template failed to parse or render. <see cref="Line"/> and <see cref="Column"/> are 1-based (0 when unknown).</summary>
public class TemplateException : Exception
{
    public TemplateException(string message, int line, int column) : this(message, line, column, null) { }

    public TemplateException(string message, int line, int column, Exception? inner)
        : base(message, inner)
    {
        Line = line;
        Column = column;
    }

    public int Line { get; }
    public int Column { get; }

    /// <summary>The message without the position.</summary>
    public virtual string Reason => Message;

    internal static string At(string reason, int line, int column) =>
        line > 0 ? $"{reason} (template line {line}, column {column})" : reason;
}

/// <summary>The template source is not valid Jinja (unknown tag, unbalanced block, bad expression).</summary>
public sealed class TemplateSyntaxException : TemplateException
{
    public TemplateSyntaxException(string reason, int line, int column)
        : base(At(reason, line, column), line, column) => Reason = reason;

    public override string Reason { get; }
}

/// <summary>The template failed while rendering: undefined value misused, type error, sandbox or resource limit.</summary>
public sealed class TemplateRuntimeException : TemplateException
{
    public TemplateRuntimeException(string reason, int line, int column)
        : base(At(reason, line, column), line, column) => Reason = reason;

    public override string Reason { get; }
}

/// <summary>The template called <c>raise_exception(message)</c>; <see cref="Exception.Message"/> is exactly that message.</summary>
public sealed class TemplateRaisedException(string message, int line, int column) : TemplateException(message, line, column);
