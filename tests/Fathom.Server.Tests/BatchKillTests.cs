using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Fathom.Server.Tests;

/// <summary>`fathom serve` killed (SIGKILL) in the middle of a batch and started again loses and duplicates nothing.</summary>
public sealed class BatchKillTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-kill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Process Serve(int port)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])[Path.Combine(AppContext.BaseDirectory, "fathom.dll"), "serve", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", Path.Combine(_dir, "data"), "-t", "1"])
            info.ArgumentList.Add(arg);
        info.Environment["FATHOM_CACHE"] = Path.Combine(_dir, "cache");
        var process = Process.Start(info)!;
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return process;
    }

    private static async Task WaitHealthy(HttpClient client, Process process)
    {
        for (int i = 0; i < 600; i++)
        {
            Assert.False(process.HasExited, "fathom serve exited early");
            try
            {
                if ((await client.GetAsync("/health", Ct)).IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100, Ct);
        }
        throw new TimeoutException("fathom serve did not become healthy");
    }

    private static async Task<JsonElement> Get(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("anthropic-version", "2023-06-01");
        var response = await client.SendAsync(request, Ct);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();
    }

    [Fact]
    public async Task A_killed_server_resumes_its_batch_after_restart_with_every_result_exactly_once()
    {
        const int n = 40;
        int port = FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        string body = "{\"requests\":[" + string.Join(",", Enumerable.Range(0, n).Select(i =>
            $$$"""{"custom_id":"r{{{i}}}","params":{"model":"fathom-demo","max_tokens":120,"messages":[{"role":"user","content":"story {{{i}}}"}]}}""")) + "]}";
        string id;
        var first = Serve(port);
        try
        {
            await WaitHealthy(client, first);
            using var create = new HttpRequestMessage(HttpMethod.Post, "/v1/messages/batches") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            var created = JsonDocument.Parse(await (await client.SendAsync(create, Ct)).Content.ReadAsStringAsync(Ct)).RootElement;
            id = created.GetProperty("id").GetString()!;
            for (int i = 0; i < 3000; i++)
            {
                var b = await Get(client, $"/v1/messages/batches/{id}");
                if (b.GetProperty("request_counts").GetProperty("succeeded").GetInt32() >= 2)
                    break;
                await Task.Delay(5, Ct);
            }
        }
        finally
        {
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync(Ct);
            first.Dispose();
        }

        var second = Serve(port);
        try
        {
            await WaitHealthy(client, second);
            JsonElement batch = default;
            for (int i = 0; i < 6000; i++)
            {
                batch = await Get(client, $"/v1/messages/batches/{id}");
                if (batch.GetProperty("processing_status").GetString() == "ended")
                    break;
                await Task.Delay(20, Ct);
            }
            Assert.Equal("ended", batch.GetProperty("processing_status").GetString());
            Assert.Equal(n, batch.GetProperty("request_counts").GetProperty("succeeded").GetInt32());
            using var results = new HttpRequestMessage(HttpMethod.Get, batch.GetProperty("results_url").GetString());
            string text = await (await client.SendAsync(results, Ct)).Content.ReadAsStringAsync(Ct);
            var ids = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("custom_id").GetString()).ToList();
            Assert.Equal(Enumerable.Range(0, n).Select(i => $"r{i}").Order(), ids.Order());
        }
        finally
        {
            second.Kill(entireProcessTree: true);
            await second.WaitForExitAsync(Ct);
            second.Dispose();
        }
    }
}
