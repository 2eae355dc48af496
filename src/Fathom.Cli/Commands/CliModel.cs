using System.CommandLine;
using System.Globalization;

namespace Fathom.Cli.Commands;

/// <summary>Options and parsing shared by the commands that run a model.</summary>
internal static class CliModel
{
    public static Option<FileInfo> ModelOption() => new("--model", "-m")
    {
        Description = "GGUF model file.",
        Required = true,
    };

    public static Option<int> ThreadsOption(int fallback) => new("--threads", "-t")
    {
        Description = $"Threads for the forward pass (default {fallback}).",
        DefaultValueFactory = _ => fallback,
    };

    public static int DefaultThreads => Math.Max(1, Environment.ProcessorCount);

    public static void CheckThreads(int threads)
    {
        if (threads < 1 || threads > 1024)
            throw new CliUsageException($"--threads {threads} must be between 1 and 1024");
    }

    public static string CheckModel(FileInfo? file)
    {
        if (file is null)
            throw new CliUsageException("--model is required");
        if (!file.Exists)
            throw new CliUsageException($"model file '{file.FullName}' not found");
        return file.FullName;
    }

    /// <summary>Token ids separated by commas and/or whitespace.</summary>
    public static int[] ParseTokens(string text, int vocab)
    {
        var parts = text.Split([',', ' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new CliUsageException("--tokens holds no token ids");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]) || ids[i] >= vocab)
                throw new CliUsageException($"--tokens: '{parts[i]}' is not a token id below the vocabulary size {vocab}");
        }
        return ids;
    }
}
