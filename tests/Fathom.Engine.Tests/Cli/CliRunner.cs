using System.CommandLine;
using Fathom.Cli;
using Fathom.Cli.Commands;

namespace Fathom.Engine.Tests.Cli;

/// <summary>Runs `fathom` in-process with captured stdout/stderr.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand("fathom");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = CliHost.Run(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
