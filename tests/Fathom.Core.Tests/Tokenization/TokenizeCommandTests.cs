using System.CommandLine;
using Fathom.Cli;
using Fathom.Cli.Commands;

namespace Fathom.Tests.Tokenization;

public class TokenizeCommandTests
{
    private static readonly string Qwen = Path.Combine(Fixtures.Vocab, "ggml-vocab-qwen2.gguf");
    private static readonly string Llama3 = Path.Combine(Fixtures.Vocab, "ggml-vocab-llama-bpe.gguf");

    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = CommandCatalog.CreateRoot();
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = CliHost.Run(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Ids_on_one_line_with_bos_and_special_parsing_by_default()
    {
        var tok = VocabFixtures.Load("ggml-vocab-llama-bpe.gguf");
        var (code, output, err) = Run("tokenize", "-m", Llama3, "--ids", "<|eot_id|>Hello world");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal(string.Join(' ', tok.Encode("<|eot_id|>Hello world", addSpecial: true, parseSpecial: true)) + "\n", output);
        Assert.StartsWith($"{tok.Bos} {tok.TokenId("<|eot_id|>")} ", output);
    }

    [Fact]
    public void No_special_and_no_parse_special()
    {
        var tok = VocabFixtures.Load("ggml-vocab-llama-bpe.gguf");
        var (code, output, _) = Run("tokenize", "-m", Llama3, "--ids", "--no-special", "--no-parse-special", "<|eot_id|>");
        Assert.Equal(0, code);
        Assert.Equal(string.Join(' ', tok.Encode("<|eot_id|>", addSpecial: false, parseSpecial: false)) + "\n", output);
        Assert.DoesNotContain(tok.TokenId("<|eot_id|>").ToString(System.Globalization.CultureInfo.InvariantCulture), output.Split(' ', '\n'));
    }

    [Fact]
    public void File_is_read_byte_for_byte_and_pieces_are_listed()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, "a\r\nb\n"u8.ToArray());
            var tok = VocabFixtures.Load("ggml-vocab-qwen2.gguf");
            var (code, output, _) = Run("tokenize", "-m", Qwen, "--file", path);
            Assert.Equal(0, code);
            int[] ids = tok.Encode("a\r\nb\n", addSpecial: true, parseSpecial: true);
            string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(ids.Length, lines.Length);
            Assert.Equal($"{ids[0]}\t'a'", lines[0]);
            Assert.Contains("\\r\\n", output);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("tokenize", "-m", "/no/such/model.gguf", "hi")]
    [InlineData("tokenize", "-m", "MODEL")]
    [InlineData("tokenize", "-m", "MODEL", "--file", "/no/such/file", "hi")]
    [InlineData("tokenize", "hi")]
    public void Bad_input_is_one_line_on_stderr_and_exit_2(params string[] args)
    {
        args = [.. args.Select(a => a == "MODEL" ? Qwen : a)];
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }
}

public class DetokenizeCommandTests
{
    private static readonly string Spm = Path.Combine(Fixtures.Vocab, "ggml-vocab-llama-spm.gguf");

    [Fact]
    public void Prints_the_text_exactly()
    {
        var tok = VocabFixtures.Load("ggml-vocab-llama-spm.gguf");
        int[] ids = tok.Encode("Hello wörld\n", addSpecial: false);
        var (code, output, err) = TokenizeCommandTests.Run(["detokenize", "-m", Spm, .. ids.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal("Hello wörld\n", output);
    }

    [Theory]
    [InlineData("12", "x")]
    [InlineData("-5")]
    [InlineData("99999999")]
    public void Bad_ids_exit_2(params string[] ids)
    {
        var (code, output, err) = TokenizeCommandTests.Run(["detokenize", "-m", Spm, .. ids]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }
}
