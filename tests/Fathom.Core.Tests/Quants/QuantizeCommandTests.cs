using System.CommandLine;
using Fathom.Cli;
using Fathom.Cli.Commands;

namespace Fathom.Tests.Quants;

public sealed class QuantizeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-quantize-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = CommandCatalog.CreateRoot();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliHost.Run(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Q4_K_M_of_tiny_llama_is_llama_quantize_file()
    {
        string output = Path.Combine(_dir, "out.gguf");
        var (code, stdout, stderr) = Run("quantize", Fixtures.Model("tiny-llama-f32.gguf"), output, "--type", "Q4_K_M");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Contains("output.weight", stdout);
        Assert.Contains("-> q6_k", stdout);
        Assert.Equal(File.ReadAllBytes(Fixtures.Model("tiny-llama-q4_k_m.gguf")), File.ReadAllBytes(output));
    }

    [Fact]
    public void Bad_input_is_one_line_and_exit_code_2()
    {
        string output = Path.Combine(_dir, "out.gguf");
        var (code, _, stderr) = Run("quantize", Fixtures.Model("tiny-llama-f32.gguf"), output, "--type", "q9_z");
        Assert.Equal(2, code);
        Assert.Contains("q9_z", stderr);
        Assert.Single(stderr.Trim().Split('\n'));

        (code, _, stderr) = Run("quantize", Path.Combine(_dir, "missing.gguf"), output, "--type", "q8_0");
        Assert.Equal(2, code);
        Assert.Single(stderr.Trim().Split('\n'));

        (code, _, stderr) = Run("quantize", Fixtures.Model("tiny-llama-q8_0.gguf"), output, "--type", "q4_0");
        Assert.Equal(2, code);
        Assert.Contains("requantizing", stderr);
        Assert.False(File.Exists(output));
    }
}
