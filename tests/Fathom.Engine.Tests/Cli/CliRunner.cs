using Fathom.Cli;
using Fathom.Cli.Commands;

namespace Fathom.Engine.Tests.Cli;

/// <summary>Runs `fathom` in-process with captured stdout/stderr.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = CliHost.Run(CommandCatalog.CreateRoot(), args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
