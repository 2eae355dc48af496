using System.Text;
using System.Text.Json;
using Fathom.Templates;

namespace Fathom.Tests.Templates;

/// <summary>
/// Randomly generated templates with the output or error Python Jinja2 gave (fixed seeds, see Data/README.md):
/// expressions (operators, filters, tests, methods, slicing over mixed values) and whitespace control around nested
/// blocks, comments, macros, raw and block sets.
/// </summary>
public class JinjaFuzzTests
{
    [Theory]
    [InlineData("jinja-fuzz.json")]
    [InlineData("jinja-whitespace-fuzz.json")]
    public void Random_templates_match_jinja2(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Templates", "Data", file)));
        var vars = new Dictionary<string, object?>();
        foreach (JsonProperty p in doc.RootElement.GetProperty("variables").EnumerateObject())
            vars[p.Name] = p.Value;
        var options = new ChatTemplateOptions { Variables = vars };
        var failures = new StringBuilder();
        int count = 0;
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            count++;
            string source = c.GetProperty("template").GetString()!;
            string? actual = null;
            Exception? thrown = null;
            try
            {
                actual = ChatTemplate.Parse(source).Render(ChatTemplate.Undefined, options);
            }
            catch (TemplateException ex)
            {
                thrown = ex;
            }
            bool ok = c.TryGetProperty("expected", out JsonElement expected) ? thrown is null && actual == expected.GetString() : thrown is not null;
            if (!ok)
                failures.AppendLine($"{source} -> {(thrown is null ? actual : thrown.Message)}");
        }
        Assert.True(count > 1000);
        Assert.True(failures.Length == 0, failures.ToString());
    }
}
