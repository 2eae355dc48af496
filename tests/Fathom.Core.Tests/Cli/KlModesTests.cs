using System.Globalization;
using System.Text.RegularExpressions;

namespace Fathom.Tests.Cli;

public partial class KlModesTests
{
    private static readonly string Text8K = Path.Combine(Fixtures.Text, "stdlib-8k.txt");

    [GeneratedRegex(@"^Mean    KLD    : (\d+\.\d+) \+/- (\d+\.\d+)$", RegexOptions.Multiline)]
    private static partial Regex KlLine();

    private static (int Code, string Output, string Err) Run(string quant, params string[] extra) => RunCtx(quant, "64", extra);

    private static (int Code, string Output, string Err) RunCtx(string quant, string ctx, params string[] extra) =>
        CliRunner.Run(["perplexity", "-m", Fixtures.Model($"fathom-code-5m-{quant}.gguf"), "-f", Text8K, "-c", ctx, "--chunks", "2", "-t", "2", .. extra]);

    [Fact]
    public void Saves_a_base_and_prints_kl_against_it()
    {
        string file = Path.Combine(Path.GetTempPath(), $"fathom-kl-{Guid.NewGuid():N}.bin");
        try
        {
            var (code, _, err) = Run("f32", "--save-logits", file);
            Assert.True(code == 0, err);
            (code, var output, err) = Run("q4_k_m", "--kl-base", file);
            Assert.True(code == 0, err);
            var match = KlLine().Match(output);
            Assert.True(match.Success, output);
            Assert.True(double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) > 0, output);
            Assert.Contains("Same top p", output);
            Assert.Contains("Mean PPL(base)", output);

            (code, output, err) = RunCtx("q4_k_m", "96", "--kl-base", file);
            Assert.Equal(2, code);
            Assert.Empty(output);
            Assert.Contains("n_ctx", err.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);

            File.WriteAllBytes(file, [1, 2, 3]);
            (code, _, err) = Run("q4_k_m", "--kl-base", file);
            Assert.Equal(2, code);
            Assert.Contains("magic", err);

            (code, _, _) = Run("q4_k_m", "--kl-base", file + ".missing");
            Assert.Equal(2, code);
            (code, _, _) = Run("q4_k_m", "--kl-base", file, "--save-logits", file);
            Assert.Equal(2, code);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
