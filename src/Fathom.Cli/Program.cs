using Fathom.Cli;
using Fathom.Cli.Commands;

return CliHost.Run(CommandCatalog.CreateRoot(), args);
