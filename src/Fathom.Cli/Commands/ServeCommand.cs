using System.CommandLine;
using System.Net;
using Fathom.Engine;
using Fathom.Server;
using Fathom.Server.Backends;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fathom.Cli.Commands;

/// <summary>`fathom serve`: the Anthropic Messages and OpenAI Chat Completions APIs over one model.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo>("--model", "-m") { Description = "GGUF model file (default: a built-in demo model whose output is meaningless)." };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on.", DefaultValueFactory = _ => 8080 };
        var keys = new Option<string[]>("--api-key") { Description = "Accepted API key (repeat for several; none = no authentication).", AllowMultipleArgumentsPerToken = false };
        var keyFile = new Option<FileInfo>("--api-keys") { Description = "File of accepted keys, one per line: KEY [TENANT] (# comments; a key without a tenant is its own tenant)." };
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "Directory of the batch database (default: <cache>/data)." };
        var auditLog = new Option<FileInfo>("--audit-log") { Description = "Append one JSON line per API request to this file (no prompt text unless --audit-prompts)." };
        var auditPrompts = new Option<bool>("--audit-prompts") { Description = "Also write prompt text into the audit log." };
        var costModel = new Option<string?>("--cost-model") { Description = "Add to each audit line what the request would cost on this hosted model (a name from `fathom cost`'s price table)." };
        var parallel = new Option<int>("--parallel") { Description = "Sequences generated at once.", DefaultValueFactory = _ => 4 };
        var context = new Option<int>("--ctx-size", "-c") { Description = "Context length per sequence (default: the model's, at most 4096)." };
        var toolFormat = new Option<string?>("--tool-format")
        {
            Description = "How the model writes tool calls: hermes, qwen3-coder, llama3, mistral, mistral-v11, deepseek-r1, command-r, command-r7b or none (default: read from the chat template).",
        };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var command = new Command("serve", "Serve a model over the Anthropic Messages API (/v1/messages) and the OpenAI Chat Completions API (/v1/chat/completions).")
        {
            model, host, port, keys, parallel, context, threads, keyFile, dataDir, auditLog, auditPrompts, toolFormat, costModel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            int p = parse.GetValue(port), n = parse.GetValue(parallel), ctx = parse.GetValue(context), t = parse.GetValue(threads);
            CliModel.CheckThreads(t);
            if (p is < 0 or > 65535)
                throw new CliUsageException($"--port {p} must be between 0 and 65535");
            if (n is < 1 or > 256)
                throw new CliUsageException($"--parallel {n} must be between 1 and 256");
            if (ctx < 0)
                throw new CliUsageException($"--ctx-size {ctx} must not be negative");
            var tenants = parse.GetValue(keyFile) is { } kf ? ReadKeyFile(kf) : new Dictionary<string, string>();
            string address = parse.GetValue(host)!;
            if (!IPAddress.TryParse(address, out var ip) && address != "localhost")
                throw new CliUsageException($"--host '{address}' is not an IP address");

            Fathom.Tools.ToolCallFormat? format = null;
            if (parse.GetValue(toolFormat) is { } formatName)
            {
                try
                {
                    format = Fathom.Tools.ToolCallFormats.Parse(formatName);
                }
                catch (ArgumentException ex)
                {
                    throw new CliUsageException("--tool-format: " + ex.Message.Split(" (Parameter", 2)[0]);
                }
            }

            if (parse.GetValue(costModel) is { } cm && Fathom.Cost.PriceTable.Default.TryFind(cm) is null)
                throw new CliUsageException($"--cost-model '{cm}' is not in the price table");

            string path, id;
            if (parse.GetValue(model) is { } file)
            {
                path = CliModel.CheckModel(file);
                id = Path.GetFileNameWithoutExtension(path);
            }
            else
            {
                path = DemoModel.Ensure(CacheDirectory());
                id = DemoModel.Id;
                stderr.WriteLine("fathom: no --model given: serving the built-in DEMO model (random weights).");
                stderr.WriteLine("fathom: ITS OUTPUT IS MEANINGLESS. Pass -m MODEL.gguf to serve a real model.");
            }

            using var engine = InferenceEngine.Load(path, new EngineOptions { ContextLength = ctx, MaxSequences = n, Threads = t });
            var backend = new EngineBackend(engine, id, id, File.GetLastWriteTimeUtc(path));
            if (format is { } f)
                backend.WithToolCallFormat(f);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(k =>
            {
                if (ip is not null)
                    k.Listen(ip, p);
                else
                    k.ListenLocalhost(p);
            });
            // Graceful shutdown: in-flight generations get this long to finish after Ctrl-C.
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
            builder.Services.AddFathomServer(backend, new FathomServerOptions
            {
                ApiKeys = parse.GetValue(keys) ?? [],
                KeyTenants = tenants,
                DataDirectory = parse.GetValue(dataDir)?.FullName ?? Path.Combine(CacheDirectory(), "data"),
                AuditLogPath = parse.GetValue(auditLog)?.FullName,
                AuditPrompts = parse.GetValue(auditPrompts),
                HostedCostModel = parse.GetValue(costModel),
            });
            var app = builder.Build();
            app.UseFathomErrors();
            app.MapFathomAnthropic();
            app.MapFathomOpenAI();
            app.MapFathomObservability();
            await app.StartAsync(ct);
            string url = $"http://{(address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address)}:{p}";
            stderr.WriteLine($"fathom: serving '{id}' (context {engine.ContextLength}, {n} parallel) at {url}");
            stderr.WriteLine($"fathom: Anthropic SDK base URL {url}; OpenAI SDK endpoint {url}/v1. Ctrl-C stops after in-flight requests finish.");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            return CliHost.ExitOk;
        });
        return command;
    }

    /// <summary>Reads `KEY [TENANT]` lines; blank lines and # comments are skipped.</summary>
    internal static Dictionary<string, string> ReadKeyFile(FileInfo file)
    {
        if (!file.Exists)
            throw new CliUsageException($"--api-keys '{file.FullName}' does not exist");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        int n = 0;
        foreach (string raw in File.ReadLines(file.FullName))
        {
            n++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            string[] parts = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 2)
                throw new CliUsageException($"--api-keys {file.Name}:{n}: expected 'KEY [TENANT]'");
            if (!map.TryAdd(parts[0], parts.Length == 2 ? parts[1] : FathomServerOptions.TenantOfKey(parts[0])))
                throw new CliUsageException($"--api-keys {file.Name}:{n}: duplicate key");
        }
        if (map.Count == 0)
            throw new CliUsageException($"--api-keys '{file.FullName}' holds no keys");
        return map;
    }

    /// <summary>$FATHOM_CACHE, else the user's cache directory.</summary>
    internal static string CacheDirectory() =>
        Environment.GetEnvironmentVariable("FATHOM_CACHE") is { Length: > 0 } dir ? dir
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "fathom");
}
