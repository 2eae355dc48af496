namespace Fathom.Gguf;

/// <summary>A GGUF file is malformed: <see cref="Offset"/> is the byte where the problem was found.</summary>
public sealed class GgufFormatException : Exception
{
    public GgufFormatException(long offset, string problem, string? path = null)
        : base(path is null ? $"malformed GGUF at byte {offset}: {problem}" : $"{path}: malformed GGUF at byte {offset}: {problem}")
    {
        Offset = offset;
        Problem = problem;
        Path = path;
    }

    public long Offset { get; }
    public string Problem { get; }
    public string? Path { get; }
}

/// <summary>A metadata key is missing or has another type than the caller asked for.</summary>
public sealed class GgufMetadataException(string key, string message) : Exception(message)
{
    public string Key { get; } = key;
}
