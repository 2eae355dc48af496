namespace Fathom.Server;

/// <summary>What the HTTP front end enforces, independent of the engine behind it.</summary>
public sealed record FathomServerOptions
{
    /// <summary>Accepted API keys, each its own tenant; empty (with no <see cref="KeyTenants"/>) means no authentication.</summary>
    public IReadOnlyList<string> ApiKeys { get; init; } = [];

    /// <summary>Accepted API keys mapped to tenant names; keys of one tenant share its prefix cache and batches.</summary>
    public IReadOnlyDictionary<string, string> KeyTenants { get; init; } = new Dictionary<string, string>();

    /// <summary>Where the batch database lives (null: batches are kept in memory only).</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Append-only JSON-lines audit log (null: none).</summary>
    public string? AuditLogPath { get; init; }

    /// <summary>Also write the prompt text into the audit log.</summary>
    public bool AuditPrompts { get; init; }

    /// <summary>
    /// A hosted model of the price table (e.g. "claude-sonnet-4"): each audit line then carries what the request
    /// would have cost there (cached input billed as cache reads, batch requests at the batch discount). Null: none.
    /// </summary>
    public string? HostedCostModel { get; init; }

    /// <summary>How long a finished or broken stream can be resumed with Last-Event-ID.</summary>
    public TimeSpan StreamResumeGrace { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Clock of batch expiry and archiving (tests move a fake one).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Batch requests run at once (they only start while no interactive request is waiting).</summary>
    public int BatchConcurrency { get; init; } = 1;

    /// <summary>Largest request body accepted (the Anthropic limit for Messages is 32 MB).</summary>
    public long MaxRequestBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Silence after which an SSE stream gets a <c>ping</c> event so proxies keep it open.</summary>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The tenant of a key given without a name: a hash, so the key itself never appears in logs.</summary>
    public static string TenantOfKey(string key) =>
        "key-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)).AsSpan(0, 6));
}
