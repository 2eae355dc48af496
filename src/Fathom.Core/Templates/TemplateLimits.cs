namespace Fathom.Templates;

/// <summary>Resource bounds for one render, so a hostile template cannot hang or exhaust the process.</summary>
public sealed record TemplateLimits
{
    public static TemplateLimits Default { get; } = new();

    /// <summary>Largest rendered output, and largest string any expression may build, in UTF-16 chars.</summary>
    public int MaxOutputChars { get; init; } = 64 * 1024 * 1024;

    /// <summary>Total loop iterations across the whole render.</summary>
    public long MaxLoopIterations { get; init; } = 10_000_000;

    /// <summary>Evaluation steps (one per expression or statement, plus one per 16 chars of strings built).</summary>
    public long MaxSteps { get; init; } = 200_000_000;

    /// <summary>Deepest macro/caller/recursive-loop call nesting.</summary>
    public int MaxCallDepth { get; init; } = 100;
}
