using System.Text.Json;
using Fathom.Templates;

namespace Fathom.Tests.Templates;

/// <summary>
/// Jinja semantics one snippet at a time, against outputs Python Jinja2 3.1.6 produced in the reference environment
/// (Data/jinja-semantics.json; regenerate with the script named in that folder's README).
/// </summary>
public class JinjaSemanticsTests
{
    private static readonly Lazy<JsonDocument> Data = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Templates", "Data", "jinja-semantics.json"))));

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement c in Data.Value.RootElement.GetProperty("cases").EnumerateArray())
            data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    private static JsonElement Case(string name) =>
        Data.Value.RootElement.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static ChatTemplateOptions Options()
    {
        var vars = new Dictionary<string, object?>();
        foreach (JsonProperty p in Data.Value.RootElement.GetProperty("variables").EnumerateObject())
            vars[p.Name] = p.Value;
        return new ChatTemplateOptions { Variables = vars, Now = new DateTime(2026, 1, 15, 10, 30, 0) };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_jinja2(string name)
    {
        JsonElement c = Case(name);
        string source = c.GetProperty("template").GetString()!;
        if (c.TryGetProperty("expected", out JsonElement expected))
        {
            // The reference snippets were rendered without `messages`.
            string actual = ChatTemplate.Parse(source).Render(ChatTemplate.Undefined, Options());
            Assert.Equal(expected.GetString(), actual);
            return;
        }
        string kind = c.GetProperty("error").GetString()!;
        if (kind == "none-at-parse")
            return;
        var ex = Assert.ThrowsAny<TemplateException>(() => ChatTemplate.Parse(source).Render(ChatTemplate.Undefined, Options()));
        string message = c.GetProperty("message").GetString()!;
        if (kind == "raise")
        {
            Assert.IsType<TemplateRaisedException>(ex);
            Assert.Equal(message["TemplateError: ".Length..], ex.Message);
            return;
        }
        Assert.True(ex.Line > 0, "error carries a line");
        string core = message.Contains(": ", StringComparison.Ordinal) && kind == "runtime" ? message[(message.IndexOf(": ", StringComparison.Ordinal) + 2)..] : message;
        if (kind == "syntax")
            core = core.Split(" The innermost", 2)[0].Split(" (<template>", 2)[0];
        Assert.Contains(core, ex.Message, StringComparison.Ordinal);
    }
}
