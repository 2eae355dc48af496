using System.CommandLine;

namespace Fathom.Cli.Commands;

/// <summary>Every `fathom` subcommand, in the order help lists them. One file per command beside this one.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return InspectCommand.Create();
        yield return SynthCommand.Create();
    }
}
