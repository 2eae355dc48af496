using System.CommandLine;

namespace Fathom.Cli.Commands;

/// <summary>Every `fathom` subcommand, in the order help lists them. One file per command beside this one.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return RunCommand.Create();
        yield return ChatCommand.Create();
        yield return LogitsCommand.Create();
        yield return BenchCommand.Create();
        yield return QuantizeCommand.Create();
        yield return InspectCommand.Create();
        yield return SynthCommand.Create();
        yield return TokenizeCommand.Create();
        yield return DetokenizeCommand.Create();
        yield return TemplateCommand.Create();
        yield return PerplexityCommand.Create();
        yield return EvalCommand.Create();
        yield return PackCommand.Create();
        yield return CostCommand.Create();
        yield return KvEstimateCommand.Create();
        yield return ServeCommand.Create();
    }
}
