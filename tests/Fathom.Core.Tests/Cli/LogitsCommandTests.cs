using System.Runtime.InteropServices;

namespace Fathom.Tests.Cli;

public class LogitsCommandTests
{
    [Theory]
    [InlineData("tiny-qwen2-f32", "512")]
    [InlineData("tiny-llama-q8_0", "5")]
    public void Writes_one_row_per_token_matching_the_golden(string name, string batch)
    {
        var golden = Models.Golden.Load(name);
        string outFile = Path.Combine(Path.GetTempPath(), $"fathom-logits-{Guid.NewGuid():N}.f32");
        try
        {
            var (code, _, err) = CliRunner.Run("logits", "-m", golden.ModelPath, "--tokens", string.Join(",", golden.PromptTokens),
                "--out", outFile, "-t", "1", "-b", batch);
            Assert.True(code == 0, err);
            var rows = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(outFile)).ToArray();
            Assert.Equal(golden.PromptTokens.Length * golden.Vocab, rows.Length);
            double max = 0;
            for (int i = 0; i < rows.Length; i++)
                max = Math.Max(max, Math.Abs(rows[i] - golden.Logits[i]));
            Assert.True(max <= golden.MaxAbs, $"max |d| {max}");
        }
        finally
        {
            File.Delete(outFile);
        }
    }
}
