using Spectre.Console;

namespace Fathom.Cli;

/// <summary>Chooses between rich (Spectre.Console) and plain output for a command's writer.</summary>
internal static class Terminal
{
    /// <summary>True when <paramref name="writer"/> is the process's stdout and that is a terminal.</summary>
    public static bool IsInteractive(TextWriter writer) =>
        ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    public static IAnsiConsole Rich(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.Detect,
    });
}
