using System.CommandLine;
using Fathom.Cli;
using Fathom.Cli.Commands;

var root = new RootCommand("Fathom: a long-context LLM inference engine for GGUF models on the CPU.");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
return CliHost.Run(root, args);
