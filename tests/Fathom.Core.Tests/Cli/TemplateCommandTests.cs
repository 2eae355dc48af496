using System.CommandLine;
using System.Text.Json;
using Fathom.Cli;
using Fathom.Cli.Commands;

namespace Fathom.Tests.Cli;

public sealed class TemplateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-template-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = CommandCatalog.CreateRoot();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliHost.Run(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string TemplatePath(string name) => Path.Combine(Fixtures.ChatTemplates, "templates", name + ".jinja");
    private static string CasePath(string name) => Path.Combine(Fixtures.ChatTemplates, "cases", name + ".json");

    [Theory]
    [InlineData("meta-llama-Llama-3.2-3B-Instruct", "tools_available")]
    [InlineData("Qwen-Qwen3-0.6B", "enable_thinking_false")]
    [InlineData("CohereForAI-c4ai-command-r-plus-tool_use", "whitespace_tools_undefined")]
    public void Renders_a_fixture_case_file_exactly(string template, string caseName)
    {
        string casePath = CasePath($"{template}__{caseName}");
        var (code, output, err) = Run("template", "--template", TemplatePath(template), "--messages", casePath, "--now", "2026-01-15T10:30:00");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(casePath));
        Assert.Equal(doc.RootElement.GetProperty("expected").GetString(), output);
    }

    [Theory]
    [InlineData("Qwen-Qwen3-0.6B")]
    [InlineData("mistralai-Mistral-Nemo-Instruct-2407")]
    [InlineData("meta-llama-Llama-3.2-3B-Instruct")]
    public void Tools_file_is_passed_as_tools_exactly(string template)
    {
        // The case's tools go in through --tools, the rest of the case through --messages: same render.
        string casePath = CasePath($"{template}__tool_roundtrip");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(casePath));
        var c = doc.RootElement;
        string tools = Write("tools.json", c.GetProperty("tools").GetRawText());
        var rest = c.EnumerateObject().Where(p => p.Name != "tools").ToDictionary(p => p.Name, p => p.Value);
        string messages = Write("case.json", JsonSerializer.Serialize(rest));
        var (code, output, err) = Run("template", "--template", TemplatePath(template), "--messages", messages, "--tools", tools, "--now", "2026-01-15T10:30:00");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal(c.GetProperty("expected").GetString(), output);
    }

    [Fact]
    public void Tools_file_that_is_not_an_array_exits_2()
    {
        string messages = Write("m.json", """[{"role": "user", "content": "Hi"}]""");
        string tools = Write("tools.json", """{"name": "f"}""");
        var (code, _, err) = Run("template", "--template", TemplatePath("Qwen-Qwen3-0.6B"), "--messages", messages, "--tools", tools);
        Assert.Equal(2, code);
        Assert.Contains("--tools", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Message_array_with_flags()
    {
        string messages = Write("m.json", """[{"role": "user", "content": "Hi"}]""");
        string template = Write("t.jinja", "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ eos_token }}{{ tools }}\n");
        var (code, output, _) = Run("template", "--template", template, "--messages", messages, "--add-generation-prompt", "--bos-token", "<s>", "--eos-token", "</s>");
        Assert.Equal(0, code);
        Assert.Equal("<s>[Hi]></s>None", output);
    }

    [Fact]
    public void Raise_exception_exits_2_with_the_message()
    {
        var (code, output, err) = Run("template", "--template", TemplatePath("google-gemma-2-2b-it"), "--messages", CasePath("google-gemma-2-2b-it__error_system_role"));
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal("fathom: System role not supported", err.TrimEnd());
    }

    [Fact]
    public void Syntax_error_exits_2_with_the_position()
    {
        string template = Write("bad.jinja", "ok\n{% for m in messages %}");
        string messages = Write("m.json", "[]");
        var (code, _, err) = Run("template", "--template", template, "--messages", messages);
        Assert.Equal(2, code);
        Assert.Contains("endfor", err, StringComparison.Ordinal);
        Assert.Contains("line", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_without_template_uses_the_reported_fallback()
    {
        string messages = Write("m.json", """[{"role": "user", "content": "Hi"}]""");
        var (code, output, err) = Run("template", "-m", Fixtures.Model("tiny-qwen2-f32.gguf"), "--messages", messages, "--add-generation-prompt");
        Assert.Equal(0, code);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", output);
        Assert.Contains("chatml", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("template", "--messages", "MSG")]
    [InlineData("template", "--template", "TPL", "-m", "TPL", "--messages", "MSG")]
    [InlineData("template", "--template", "TPL", "--messages", "BAD")]
    [InlineData("template", "--template", "TPL", "--messages", "OBJ")]
    [InlineData("template", "--template", "TPL", "--messages", "MSG", "--now", "yesterday")]
    [InlineData("template", "--template", "MISSING", "--messages", "MSG")]
    [InlineData("template", "--template", "TPL")]
    public void Bad_input_exits_2_with_one_line(params string[] args)
    {
        string msg = Write("m.json", "[]");
        string bad = Write("bad.json", "[{");
        string obj = Write("obj.json", """{"no_messages": []}""");
        string tpl = Write("t.jinja", "x");
        string[] resolved = [.. args.Select(a => a switch
        {
            "MSG" => msg,
            "BAD" => bad,
            "OBJ" => obj,
            "TPL" => tpl,
            "MISSING" => Path.Combine(_dir, "missing.jinja"),
            _ => a,
        })];
        var (code, output, err) = Run(resolved);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.TrimEnd().Split('\n'));
    }
}
