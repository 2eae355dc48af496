namespace Fathom.Server;

/// <summary>What the HTTP front end enforces, independent of the engine behind it.</summary>
public sealed record FathomServerOptions
{
    /// <summary>Accepted API keys; empty means no authentication.</summary>
    public IReadOnlyList<string> ApiKeys { get; init; } = [];

    /// <summary>Largest request body accepted (the Anthropic limit for Messages is 32 MB).</summary>
    public long MaxRequestBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Silence after which an SSE stream gets a <c>ping</c> event so proxies keep it open.</summary>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(15);
}
