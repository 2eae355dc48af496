namespace Fathom.Server;

/// <summary>A request the server refuses: the HTTP status and the error type each API reports it with.</summary>
public sealed class ApiException : Exception
{
    public ApiException(int status, string message, string? param = null, string? openAICode = null)
        : base(message)
    {
        Status = status;
        Param = param;
        OpenAICode = openAICode;
    }

    public ApiException()
        : this(500, "internal error")
    {
    }

    public ApiException(string message)
        : this(400, message)
    {
    }

    public ApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = 500;
    }

    public int Status { get; }

    /// <summary>The request field at fault, in OpenAI's notation (e.g. <c>messages[1].content</c>).</summary>
    public string? Param { get; }

    public string? OpenAICode { get; }

    public static ApiException Invalid(string message, string? param = null, string? code = null) => new(400, message, param, code);

    public static string AnthropicType(int status) => status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        405 => "invalid_request_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    };

    public static string OpenAIType(int status) => status switch
    {
        403 => "permission_error",
        429 => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };
}
