using Fathom.Models;

namespace Fathom.Tests.Cli;

public class RunCommandTests
{
    private static readonly string Tiny = Fixtures.Model("tiny-llama-f32.gguf");

    [Fact]
    public void Greedy_run_from_token_ids_prints_the_golden_continuation()
    {
        var golden = Models.Golden.Load("tiny-llama-f32");
        var (code, output, err) = CliRunner.Run("run", "-m", Tiny, "--tokens", string.Join(",", golden.PromptTokens),
            "-n", "8", "--temp", "0", "-t", "1");
        Assert.Equal(0, code);
        using var file = Gguf.GgufFile.Open(Tiny);
        var tokenizer = Fathom.Tokenization.Tokenizer.FromGguf(file);
        string expected = System.Text.Encoding.UTF8.GetString(tokenizer.DecodeToUtf8(golden.GreedyTokens, renderSpecial: false));
        Assert.Equal(expected.Replace("\uFFFD", "", StringComparison.Ordinal), output.TrimEnd('\n').Replace("\uFFFD", "", StringComparison.Ordinal));
        Assert.Contains("prompt: 24 tokens", err);
        Assert.Contains("generation: 8 tokens", err);
    }

    [Fact]
    public void Seeded_sampling_is_reproducible()
    {
        var a = CliRunner.Run("run", "-m", Tiny, "-p", "the cat", "-n", "6", "--temp", "1", "--seed", "5", "-t", "1");
        var b = CliRunner.Run("run", "-m", Tiny, "-p", "the cat", "-n", "6", "--temp", "1", "--seed", "5", "-t", "1");
        Assert.Equal(0, a.Code);
        Assert.Equal(a.Out, b.Out);
    }

    [Theory]
    [InlineData("the prompt is", "-p", "a fairly long prompt here", "-c", "3")]
    [InlineData("exactly one of", "-p", "x", "--tokens", "1")]
    [InlineData("not a token id", "--tokens", "1,x")]
    [InlineData("not a token id", "--tokens", "512")]
    public void Bad_input_is_one_line_and_exit_code_2(string message, params string[] args)
    {
        var (code, _, err) = CliRunner.Run(["run", "-m", Tiny, .. args]);
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Chat_wraps_the_prompt_in_the_template()
    {
        string qwen = Fixtures.Model("tiny-qwen3-f32.gguf");
        var plain = CliRunner.Run("run", "-m", qwen, "-p", "hello", "-n", "1", "--temp", "0", "-t", "1");
        var chat = CliRunner.Run("run", "-m", qwen, "-p", "hello", "-n", "1", "--temp", "0", "-t", "1", "--chat", "--system", "be brief");
        Assert.Equal(0, chat.Code);
        Assert.Contains("built-in 'chatml'", chat.Err);
        int Prompt(string err) => int.Parse(err[(err.IndexOf("prompt: ", StringComparison.Ordinal) + 8)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Prompt(chat.Err) > Prompt(plain.Err) + 10, chat.Err);
        Assert.Equal(2, CliRunner.Run("run", "-m", qwen, "-p", "hello", "--system", "x").Code);
    }

    [Fact]
    public void A_file_that_is_not_a_model_is_a_clear_error()
    {
        var (code, _, err) = CliRunner.Run("run", "-m", Path.Combine(Fixtures.Vocab, "ggml-vocab-llama-bpe.gguf"), "-p", "hi");
        Assert.Equal(2, code);
        Assert.Contains("token_embd.weight", err);
    }
}
