using System.Text.Json;
using Fathom.Tests.Cli;

namespace Fathom.Tests.Sampling.Grammar;

/// <summary><c>fathom run --grammar / --json-schema</c> on a random-weight fixture model.</summary>
public sealed class RunGrammarOptionTests : IDisposable
{
    private static readonly string Tiny = Fixtures.Model("tiny-llama-f32.gguf");
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-grammar-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Json_schema_output_validates(int seed)
    {
        const string schema = """{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":0,"maximum":9},"tag":{"enum":["a","b"]}},"required":["ok","n"],"additionalProperties":false}""";
        var (code, output, err) = CliRunner.Run("run", "-m", Tiny, "-p", "the cat", "-n", "400", "--temp", "1", "--seed", $"{seed}", "-t", "1",
            "--json-schema", Write("s.json", schema));
        Assert.True(code == 0, err);
        using var instance = JsonDocument.Parse(output);
        using var s = JsonDocument.Parse(schema);
        Assert.Null(SchemaValidator.Validate(s.RootElement, instance.RootElement));
    }

    [Fact]
    public void Grammar_output_matches()
    {
        string gbnf = "root ::= (\"yes\" | \"no\") \"!\"";
        var (code, output, err) = CliRunner.Run("run", "-m", Tiny, "-p", "the cat", "-n", "50", "--temp", "0.8", "--seed", "4", "-t", "1",
            "--grammar", Write("g.gbnf", gbnf));
        Assert.True(code == 0, err);
        Assert.Contains(output.TrimEnd('\n'), (string[])["yes!", "no!"]);
    }

    [Theory]
    [InlineData("--grammar", "root ::= \"a", "line 1, column 10")]
    [InlineData("--json-schema", "{\"type\":\"array\",\"uniqueItems\":true}", "'uniqueItems' is not supported")]
    [InlineData("--json-schema", "{\"type\":", "not valid JSON")]
    public void Bad_grammar_or_schema_is_one_line_and_exit_code_2(string option, string text, string message)
    {
        var (code, _, err) = CliRunner.Run("run", "-m", Tiny, "-p", "x", "-n", "2", option, Write("bad", text));
        Assert.Equal(2, code);
        Assert.Contains(message, err, StringComparison.Ordinal);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Grammar_and_schema_together_are_refused()
    {
        var (code, _, err) = CliRunner.Run("run", "-m", Tiny, "-p", "x", "--grammar", Write("g", "root ::= \"a\""), "--json-schema", Write("s", "{}"));
        Assert.Equal(2, code);
        Assert.Contains("not both", err, StringComparison.Ordinal);
    }
}
