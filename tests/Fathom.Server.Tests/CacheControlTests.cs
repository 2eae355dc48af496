using Fathom.Engine;

namespace Fathom.Server.Tests;

/// <summary>cache_control markers become prompt-prefix breakpoints with their TTLs; malformed ones are 400s.</summary>
public sealed class CacheControlTests
{
    [Fact]
    public async Task Markers_become_prefixes_cut_after_the_marked_block_with_their_ttl()
    {
        await using var host = await TestHost.StartAsync();
        var (response, _) = await host.Client.SendJson(Http.Anthropic("""
            {"model":"fake-model","max_tokens":4,"cache_control":{"type":"ephemeral"},
             "system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral","ttl":"1h"}}],
             "messages":[{"role":"user","content":[{"type":"text","text":"first part","cache_control":{"type":"ephemeral"}},{"type":"text","text":"second part"}]},
                         {"role":"assistant","content":"ok"},{"role":"user","content":"next"}]}
            """));
        Assert.Equal(200, (int)response.StatusCode);
        var marks = host.Backend.LastSettings!.CacheBreakpoints;
        Assert.Equal(3, marks.Count);
        Assert.Null(marks[0].Prefix);
        Assert.Equal(CacheBreakpoint.DefaultTtl, marks[0].Ttl);
        Assert.Equal(CacheBreakpoint.LongTtl, marks[1].Ttl);
        Assert.Equal([("system", "sys")], marks[1].Prefix!.Turns.Select(t => (t.Role, t.Content)));
        Assert.Equal(CacheBreakpoint.DefaultTtl, marks[2].Ttl);
        Assert.Equal([("system", "sys"), ("user", "first part")], marks[2].Prefix!.Turns.Select(t => (t.Role, t.Content)));
    }

    [Theory]
    [InlineData("""{"type":"ephemeral","ttl":"10m"}""", """{"type":"ephemeral"}""", "system.0.cache_control.ttl")]
    [InlineData("""{"type":"ephemeral","ttl":"5m"}""", """{"type":"ephemeral","ttl":"1h"}""", "messages.0.content.0.cache_control.ttl")]
    public async Task Bad_ttls_and_a_1h_marker_after_a_5m_one_are_rejected(string systemMark, string messageMark, string field)
    {
        await using var host = await TestHost.StartAsync();
        string body = $$"""
            {"model":"fake-model","max_tokens":4,"system":[{"type":"text","text":"sys","cache_control":{{systemMark}}}],
             "messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{{messageMark}}}]}]}
            """;
        var (response, json) = await host.Client.SendJson(Http.Anthropic(body));
        Assert.StartsWith(field, Http.AssertAnthropicError(response, json, 400, "invalid_request_error"), StringComparison.Ordinal);
    }
}
