using System.Text.Json;
using Fathom.Templates;

namespace Fathom.Tests.Templates;

/// <summary>Every case in ../shared/fixtures/chat-templates renders byte-identically to Python Jinja2, or fails with its message.</summary>
public class ChatTemplateFixtureTests
{
    private static readonly DateTime FixtureNow = new(2026, 1, 15, 10, 30, 0);

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.EnumerateFiles(Path.Combine(Fixtures.ChatTemplates, "cases"), "*.json").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileNameWithoutExtension(file));
        return data;
    }

    internal static (string? Expected, string? Error, string Actual, Exception? Thrown) RunCase(string name)
    {
        string path = Path.Combine(Fixtures.ChatTemplates, "cases", name + ".json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement c = doc.RootElement;
        string templateName = c.GetProperty("template").GetString()!;
        string source = File.ReadAllText(Path.Combine(Fixtures.ChatTemplates, "templates", templateName + ".jinja"));
        var variables = new Dictionary<string, object?>();
        if (c.TryGetProperty("kwargs", out JsonElement kwargs))
        {
            foreach (JsonProperty p in kwargs.EnumerateObject())
                variables[p.Name] = p.Value.Clone();
        }
        var options = new ChatTemplateOptions
        {
            AddGenerationPrompt = c.GetProperty("add_generation_prompt").GetBoolean(),
            BosToken = c.GetProperty("bos_token").GetString() ?? "",
            EosToken = c.GetProperty("eos_token").GetString() ?? "",
            Tools = c.TryGetProperty("tools", out JsonElement tools) ? tools.Clone() : ChatTemplate.Undefined,
            Documents = c.TryGetProperty("documents", out JsonElement docs) ? docs.Clone() : ChatTemplate.Undefined,
            Variables = variables,
            Now = FixtureNow,
        };
        string? expected = c.TryGetProperty("expected", out JsonElement e) ? e.GetString() : null;
        string? error = c.TryGetProperty("error", out JsonElement err) ? err.GetString() : null;
        try
        {
            string actual = ChatTemplate.Parse(source).Render(c.GetProperty("messages").Clone(), options);
            return (expected, error, actual, null);
        }
        catch (TemplateException ex)
        {
            return (expected, error, "", ex);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_like_jinja2(string name)
    {
        var (expected, error, actual, thrown) = RunCase(name);
        if (error is not null)
        {
            var raised = Assert.IsType<TemplateRaisedException>(thrown);
            Assert.Equal(error, raised.Message);
            return;
        }
        if (thrown is not null)
            Assert.Fail($"{thrown.GetType().Name}: {thrown.Message}");
        Assert.Equal(expected, actual);
    }
}
