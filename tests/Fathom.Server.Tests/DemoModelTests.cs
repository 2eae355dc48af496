using System.CommandLine;
using Fathom.Cli;
using Fathom.Cli.Commands;
using Fathom.Engine;
using Fathom.Server.Backends;

namespace Fathom.Server.Tests;

public sealed class DemoModelTests
{
    [Fact]
    public async Task The_demo_model_is_written_once_loads_and_generates()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fathom-demo-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            string path = DemoModel.Ensure(dir);
            var written = File.GetLastWriteTimeUtc(path);
            Assert.Equal(path, DemoModel.Ensure(dir));
            Assert.Equal(written, File.GetLastWriteTimeUtc(path));
            using var engine = InferenceEngine.Load(path, new EngineOptions { ContextLength = 128, MaxSequences = 1 });
            Assert.Equal("Hello, world", engine.Tokenizer.Decode(engine.Tokenizer.Encode("Hello, world", addSpecial: false)));
            var (_, final) = await engine.GenerateAsync(new GenerationRequest { Messages = [new EngineMessage("user", "Hi")], MaxTokens = 3 }, TestContext.Current.CancellationToken);
            Assert.InRange(final.Usage!.OutputTokens, 1, 3);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--port", "70000")]
    [InlineData("--parallel", "0")]
    [InlineData("--host", "not-an-ip")]
    [InlineData("--model", "/nonexistent/model.gguf")]
    [InlineData("--api-keys", "/nonexistent/keys.txt")]
    public void Serve_rejects_bad_options_with_exit_code_2(string option, string value)
    {
        var root = CommandCatalog.CreateRoot();
        var stderr = new StringWriter();
        int exit = CliHost.Run(root, ["serve", option, value], new StringWriter(), stderr);
        Assert.Equal(2, exit);
        Assert.Single(stderr.ToString().Trim().Split('\n'));
    }
}
