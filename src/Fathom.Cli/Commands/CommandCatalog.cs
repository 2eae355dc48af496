using System.CommandLine;

namespace Fathom.Cli.Commands;

/// <summary>Every `fathom` subcommand, in the order help lists them. One file per command beside this one.</summary>
internal static class CommandCatalog
{
    /// <summary>The `fathom` root command with every subcommand attached (the program and in-process tests share it).</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Fathom: a long-context LLM inference engine for GGUF models on the CPU.");
        foreach (var command in All())
            root.Subcommands.Add(command);
        return root;
    }

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
        yield return AskCommand.Create();
        yield return CostCommand.Create();
        yield return KvEstimateCommand.Create();
        yield return ServeCommand.Create();
    }
}
