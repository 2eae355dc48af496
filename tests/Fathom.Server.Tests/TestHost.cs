using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Logging;

namespace Fathom.Server.Tests;

/// <summary>The server in process, wired exactly as `fathom serve` wires it, over a fake backend.</summary>
internal sealed class TestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestHost(WebApplication app, FakeBackend backend)
    {
        _app = app;
        Backend = backend;
        Client = app.GetTestClient();
    }

    public FakeBackend Backend { get; }
    public HttpClient Client { get; }

    public static async Task<TestHost> StartAsync(FakeBackend? backend = null, FathomServerOptions? options = null)
    {
        backend ??= new FakeBackend();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.AddFathomServer(backend, options);
        var app = builder.Build();
        app.UseFathomErrors();
        app.MapFathomAnthropic();
        app.MapFathomOpenAI();
        app.MapFathomObservability();
        await app.StartAsync();
        return new TestHost(app, backend);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.DisposeAsync();
    }
}
