namespace Fathom.Engine;

internal enum SequenceState
{
    Waiting,
    Running,
    Finished,
}

/// <summary>
/// One request inside the scheduler: its tokens (prompt, then output), how many of them are in the KV
/// cache, and the pages holding them. Only the scheduler thread touches it.
/// </summary>
internal sealed class Sequence
{
    public Sequence(long id, IReadOnlyList<int> prompt, UInt128 hashRoot, IReadOnlyList<CacheBreakpoint>? breakpoints = null)
    {
        Id = id;
        Tokens = [.. prompt];
        PromptLength = prompt.Count;
        HashRoot = hashRoot;
        Breakpoints = breakpoints ?? [];
    }

    public long Id { get; }
    public List<int> Tokens { get; }
    public int PromptLength { get; }
    public UInt128 HashRoot { get; }
    public IReadOnlyList<CacheBreakpoint> Breakpoints { get; }

    /// <summary>Tokens whose keys and values are in the cache.</summary>
    public int Computed { get; set; }

    /// <summary>Pages holding positions 0…, PageSize each.</summary>
    public List<int> Pages { get; } = [];

    /// <summary>Chained keys of the first full pages (registered in the pool or found there).</summary>
    public List<UInt128> PageKeys { get; } = [];

    public SequenceState State { get; set; } = SequenceState.Waiting;

    /// <summary>Prompt tokens found in the cache when first admitted (-1 before).</summary>
    public int CachedPromptTokens { get; set; } = -1;

    public int Preemptions { get; set; }

    public int OutputCount => Tokens.Count - PromptLength;

    /// <summary>The engine's per-request state.</summary>
    public object? Owner { get; set; }
}
