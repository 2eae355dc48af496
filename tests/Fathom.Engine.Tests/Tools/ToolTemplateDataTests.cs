using System.Text.Json;
using Fathom.Templates;
using Fathom.Tools;

namespace Fathom.Engine.Tests.Tools;

/// <summary>
/// The chat-template fixtures' tool cases, rebuilt from typed messages and tool definitions through
/// <see cref="ToolTemplateData"/>, render byte-identically to Python Jinja2: the server hands templates exactly what
/// transformers does.
/// </summary>
public class ToolTemplateDataTests
{
    private static readonly DateTime FixtureNow = new(2026, 1, 15, 10, 30, 0);
    private static readonly HashSet<string> MessageKeys = ["role", "content", "tool_calls", "tool_call_id", "name"];

    public static TheoryData<string> ToolCases()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.EnumerateFiles(Path.Combine(Fixtures.Root, "chat-templates", "cases"), "*.json").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (name.EndsWith("__tools_available", StringComparison.Ordinal) || name.Contains("__tool_roundtrip", StringComparison.Ordinal))
                data.Add(name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ToolCases))]
    public void Typed_conversation_renders_like_the_fixture(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures.Root, "chat-templates", "cases", name + ".json")));
        var c = doc.RootElement;
        var messages = new List<ToolChatMessage>();
        foreach (var m in c.GetProperty("messages").EnumerateArray())
        {
            // Typed messages carry text content and the HF tool fields; cases with other shapes are not this test's subject.
            if (m.EnumerateObject().Any(p => !MessageKeys.Contains(p.Name)) || m.GetProperty("content").ValueKind != JsonValueKind.String)
                return;
            List<ToolCall>? calls = null;
            if (m.TryGetProperty("tool_calls", out var tc))
            {
                calls = [];
                foreach (var call in tc.EnumerateArray())
                {
                    var fn = call.GetProperty("function");
                    var args = fn.GetProperty("arguments");
                    calls.Add(new ToolCall(fn.GetProperty("name").GetString()!, args.ValueKind == JsonValueKind.String ? args.GetString()! : args.GetRawText()) { Id = call.GetProperty("id").GetString() });
                }
            }
            messages.Add(new ToolChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)
            {
                ToolCalls = calls,
                ToolCallId = m.TryGetProperty("tool_call_id", out var id) ? id.GetString() : null,
                ToolName = m.TryGetProperty("name", out var n) ? n.GetString() : null,
            });
        }
        var tools = new List<ToolDefinition>();
        foreach (var t in c.GetProperty("tools").EnumerateArray())
        {
            var fn = t.GetProperty("function");
            tools.Add(new ToolDefinition(fn.GetProperty("name").GetString()!, fn.GetProperty("description").GetString(), fn.GetProperty("parameters").Clone()));
        }
        var template = ChatTemplate.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "chat-templates", "templates", c.GetProperty("template").GetString() + ".jinja")));
        // The probe must pick the argument form the fixture uses (a string only where the template needs one).
        bool fixtureStrings = c.GetProperty("messages").EnumerateArray().Any(m => m.TryGetProperty("tool_calls", out var tc)
            && tc.EnumerateArray().Any(x => x.GetProperty("function").GetProperty("arguments").ValueKind == JsonValueKind.String));
        bool stringArguments = ToolTemplateData.WantsStringArguments(template);
        if (messages.Any(m => m.ToolCalls is not null))
            Assert.Equal(fixtureStrings, stringArguments);
        var variables = new Dictionary<string, object?>();
        if (c.TryGetProperty("kwargs", out var kwargs))
        {
            foreach (var p in kwargs.EnumerateObject())
                variables[p.Name] = p.Value.Clone();
        }
        var options = new ChatTemplateOptions
        {
            AddGenerationPrompt = c.GetProperty("add_generation_prompt").GetBoolean(),
            BosToken = c.GetProperty("bos_token").GetString() ?? "",
            EosToken = c.GetProperty("eos_token").GetString() ?? "",
            Tools = ToolTemplateData.Tools(tools),
            Documents = c.TryGetProperty("documents", out var docs) ? docs.Clone() : ChatTemplate.Undefined,
            Variables = variables,
            Now = FixtureNow,
        };
        if (c.TryGetProperty("error", out var error))
        {
            var raised = Assert.Throws<TemplateRaisedException>(() => template.Render(ToolTemplateData.Messages(messages, stringArguments), options));
            Assert.Equal(error.GetString(), raised.Message);
            return;
        }
        Assert.Equal(c.GetProperty("expected").GetString(), template.Render(ToolTemplateData.Messages(messages, stringArguments), options));
    }

    [Fact]
    public void Fallback_writes_tools_calls_and_results_as_hermes_text_that_parses_back()
    {
        var schema = JsonDocument.Parse("""{"type": "object", "properties": {"city": {"type": "string"}}}""").RootElement.Clone();
        var messages = new List<ToolChatMessage>
        {
            new("system", "Be brief."),
            new("user", "Weather in Paris?"),
            new("assistant", "Checking.") { ToolCalls = [new ToolCall("get_weather", """{"city": "Paris"}""") { Id = "c1" }] },
            new("tool", "18C") { ToolCallId = "c1", ToolName = "get_weather" },
        };
        var result = ToolTemplateData.Fallback(messages, [new ToolDefinition("get_weather", "Weather now.", schema)]);
        Assert.Equal(["system", "user", "assistant", "user"], result.Select(m => m.Role));
        Assert.StartsWith("Be brief.\n\n# Tools", result[0].Content, StringComparison.Ordinal);
        Assert.Contains("\"name\":\"get_weather\"", result[0].Content, StringComparison.Ordinal);
        var parsed = ToolCallParser.Parse(ToolCallFormat.Hermes, result[2].Content);
        Assert.Equal("Checking.\n", parsed.Text);
        Assert.Equal("get_weather", Assert.Single(parsed.Calls).Name);
        Assert.Equal("<tool_response>\n18C\n</tool_response>", result[3].Content);
    }
}
