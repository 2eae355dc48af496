using System.Text.Json;
using Fathom.Engine;

namespace Fathom.Server.Anthropic;

/// <summary>
/// Turns <c>cache_control</c> markers into prompt prefixes: each marked block becomes the request cut
/// just after that block, parsed like the request itself so the prefix renders exactly as the prompt does.
/// </summary>
internal static class CacheControl
{
    public static IReadOnlyList<PromptCacheBreakpoint> Breakpoints(JsonElement root, string version)
    {
        CheckTtlOrder(root);
        var list = new List<PromptCacheBreakpoint>();
        if (root.TryGetProperty("cache_control", out var top))
            list.Add(new PromptCacheBreakpoint(null, Ttl(top)));
        TimeSpan? headTtl = null;
        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
            headTtl = Longest(headTtl, tools.EnumerateArray());
        if (root.TryGetProperty("system", out var system) && system.ValueKind == JsonValueKind.Array)
            headTtl = Longest(headTtl, system.EnumerateArray());
        if (headTtl is { } head && Prefix(root, version, -1, -1) is { } headPrompt)
            list.Add(new PromptCacheBreakpoint(headPrompt, head));
        if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            int m = 0;
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                {
                    int b = 0;
                    foreach (var block in content.EnumerateArray())
                    {
                        if (block.ValueKind == JsonValueKind.Object && block.TryGetProperty("cache_control", out var cc) && Prefix(root, version, m, b) is { } prompt)
                            list.Add(new PromptCacheBreakpoint(prompt, Ttl(cc)));
                        b++;
                    }
                }
                m++;
            }
        }
        return list;
    }

    /// <summary>Each ttl is 5m or 1h, and 1-hour breakpoints come before 5-minute ones in prefix order (tools, system, messages).</summary>
    private static void CheckTtlOrder(JsonElement root)
    {
        bool sawShort = false;
        void Visit(JsonElement block, string path)
        {
            if (block.ValueKind != JsonValueKind.Object || !block.TryGetProperty("cache_control", out var cc) || cc.ValueKind != JsonValueKind.Object)
                return;
            string ttl = "5m";
            path = path.Length == 0 ? "cache_control.ttl" : path + ".cache_control.ttl";
            if (cc.TryGetProperty("ttl", out var t))
            {
                ttl = t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
                if (ttl is not ("5m" or "1h"))
                    throw JsonFields.Fail(path, "Input should be '5m' or '1h'", true);
            }
            if (ttl == "1h" && sawShort)
                throw JsonFields.Fail(path, "a ttl='1h' cache_control breakpoint must not come after a ttl='5m' one", true);
            sawShort |= ttl == "5m";
        }
        foreach (string head in (ReadOnlySpan<string>)["tools", "system"])
        {
            if (root.TryGetProperty(head, out var items) && items.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (var item in items.EnumerateArray())
                    Visit(item, $"{head}.{i++}");
            }
        }
        if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            int m = 0;
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                {
                    int b = 0;
                    foreach (var block in content.EnumerateArray())
                        Visit(block, $"messages.{m}.content.{b++}");
                }
                m++;
            }
        }
        Visit(root, "");
    }

    private static TimeSpan Ttl(JsonElement cacheControl) =>
        cacheControl.ValueKind == JsonValueKind.Object && cacheControl.TryGetProperty("ttl", out var ttl) && ttl.ValueKind == JsonValueKind.String && ttl.GetString() == "1h"
            ? CacheBreakpoint.LongTtl
            : CacheBreakpoint.DefaultTtl;

    private static TimeSpan? Longest(TimeSpan? current, JsonElement.ArrayEnumerator blocks)
    {
        foreach (var block in blocks)
        {
            if (block.ValueKind == JsonValueKind.Object && block.TryGetProperty("cache_control", out var cc))
            {
                var ttl = Ttl(cc);
                current = current is { } c && c > ttl ? c : ttl;
            }
        }
        return current;
    }

    /// <summary>
    /// The prompt of messages[0..message-1] plus the first block+1 blocks of messages[message]; message −1
    /// means the head alone (tools and system), parsed with a placeholder turn that is then dropped.
    /// </summary>
    private static ChatPrompt? Prefix(JsonElement root, string version, int message, int block)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var p in root.EnumerateObject())
            {
                if (p.NameEquals("messages") || p.NameEquals("stream") || p.NameEquals("cache_control"))
                    continue;
                p.WriteTo(w);
            }
            w.WriteStartArray("messages");
            if (message < 0)
            {
                w.WriteStartObject();
                w.WriteString("role", "user");
                w.WriteString("content", ".");
                w.WriteEndObject();
            }
            else
            {
                int m = 0;
                foreach (var msg in root.GetProperty("messages").EnumerateArray())
                {
                    if (m < message)
                        msg.WriteTo(w);
                    else
                    {
                        w.WriteStartObject();
                        foreach (var p in msg.EnumerateObject())
                        {
                            if (!p.NameEquals("content"))
                            {
                                p.WriteTo(w);
                                continue;
                            }
                            w.WriteStartArray("content");
                            int b = 0;
                            foreach (var item in p.Value.EnumerateArray())
                            {
                                if (b++ > block)
                                    break;
                                item.WriteTo(w);
                            }
                            w.WriteEndArray();
                        }
                        w.WriteEndObject();
                        break;
                    }
                    m++;
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        try
        {
            using var doc = JsonDocument.Parse(buffer.ToArray());
            var prompt = AnthropicRequest.Parse(doc.RootElement, version, countTokens: true).Prompt;
            if (message >= 0)
                return prompt;
            return prompt.Turns.Count > 1 ? prompt with { Turns = [.. prompt.Turns.Take(prompt.Turns.Count - 1)] } : null;
        }
        catch (ApiException)
        {
            return null;
        }
    }
}
