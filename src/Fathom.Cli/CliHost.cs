using System.CommandLine;
using Fathom.Gguf;

namespace Fathom.Cli;

/// <summary>A usage error the user can fix: printed as one line on stderr, exit code 2.</summary>
public sealed class CliUsageException(string message) : Exception(message);

/// <summary>Runs the command tree with Fathom's error contract: bad input is one line on stderr and exit code 2.</summary>
public static class CliHost
{
    public const int ExitOk = 0;
    public const int ExitInternal = 1;
    public const int ExitBadInput = 2;

    public static int Run(RootCommand root, string[] args) => Run(root, args, Console.Out, Console.Error);

    public static int Run(RootCommand root, string[] args, TextWriter stdout, TextWriter stderr)
    {
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            stderr.WriteLine($"fathom: {parse.Errors[0].Message}");
            return ExitBadInput;
        }
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return parse.Invoke(config);
        }
        catch (Exception ex) when (IsBadInput(ex))
        {
            stderr.WriteLine($"fathom: {OneLine(ex.Message)}");
            return ExitBadInput;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("fathom: cancelled");
            return 130;
        }
        catch (Exception ex)
        {
            stderr.WriteLine($"fathom: internal error ({ex.GetType().Name}): {OneLine(ex.Message)}");
            if (Environment.GetEnvironmentVariable("FATHOM_DEBUG") == "1")
                stderr.WriteLine(ex);
            return ExitInternal;
        }
    }

    private static bool IsBadInput(Exception ex) => ex is CliUsageException or GgufFormatException or GgufMetadataException
        or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or InvalidDataException
        or Fathom.Models.ModelFormatException or Fathom.Tokenization.TokenizerException
        or Fathom.Templates.TemplateException or Fathom.Evaluation.LogitsFileException;

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
