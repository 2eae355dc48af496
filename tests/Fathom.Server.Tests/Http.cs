using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Fathom.Server.Tests;

/// <summary>Raw HTTP helpers for protocol tests: exact headers and bodies, no SDK in between.</summary>
internal static class Http
{
    public static HttpRequestMessage Anthropic(string body, string? version = "2023-06-01", string path = "/v1/messages")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (version is not null)
            request.Headers.Add("anthropic-version", version);
        return request;
    }

    public static HttpRequestMessage OpenAI(string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-test");
        return request;
    }

    public static async Task<(HttpResponseMessage Response, JsonElement Body)> SendJson(this HttpClient client, HttpRequestMessage request)
    {
        var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Parses an SSE body into (event name or null, data) pairs.</summary>
    public static List<(string? Event, string Data)> ParseSse(string text)
    {
        var events = new List<(string?, string)>();
        foreach (string block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, data = null;
            foreach (string line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                    name = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                    data = line["data: ".Length..];
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                    continue;
                else
                    throw new FormatException($"unexpected SSE line '{line}'");
            }
            events.Add((name, data ?? throw new FormatException("SSE event without data")));
        }
        return events;
    }

    /// <summary>Asserts the Anthropic error envelope and returns error.message.</summary>
    public static string AssertAnthropicError(HttpResponseMessage response, JsonElement body, int status, string type)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal(type, body.GetProperty("error").GetProperty("type").GetString());
        string requestId = body.GetProperty("request_id").GetString()!;
        Assert.StartsWith("req_", requestId, StringComparison.Ordinal);
        Assert.Equal(requestId, response.Headers.GetValues("request-id").Single());
        return body.GetProperty("error").GetProperty("message").GetString()!;
    }

    public static JsonElement AssertOpenAIError(HttpResponseMessage response, JsonElement body, int status, string type)
    {
        Assert.Equal(status, (int)response.StatusCode);
        var error = body.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return error;
    }
}
