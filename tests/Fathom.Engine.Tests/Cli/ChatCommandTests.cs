using System.Text.RegularExpressions;

namespace Fathom.Engine.Tests.Cli;

public class ChatCommandTests
{
    private static (int Code, string Out, string Err) Chat(string input, params string[] args)
    {
        var old = Console.In;
        Console.SetIn(new StringReader(input));
        try
        {
            return CliRunner.Run(["chat", "-m", Fixtures.Model("tiny-llama-q8_0.gguf"), "-t", "1", "-c", "512", "--temp", "0", "-n", "6", .. args]);
        }
        finally
        {
            Console.SetIn(old);
        }
    }

    private static List<(int Input, int Cached)> Usage(string err) =>
        Regex.Matches(err, @"\[(\d+) prompt tokens, (\d+) cached").Select(m => (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value))).ToList();

    [Fact]
    public void Each_turn_prefills_only_the_new_message()
    {
        var (code, _, err) = Chat("hello\nhow are you\nand now?\n");
        Assert.Equal(0, code);
        var usage = Usage(err);
        Assert.Equal(3, usage.Count);
        Assert.Equal(0, usage[0].Cached);
        for (int i = 1; i < 3; i++)
        {
            Assert.True(usage[i].Cached >= usage[i - 1].Input, err);
            Assert.True(usage[i].Cached < usage[i].Input);
        }
    }

    [Fact]
    public void Clear_save_and_load_manage_the_conversation()
    {
        using var tree = new TempTree();
        string file = Path.Combine(tree.Root, "chat.json");
        var (code, _, err) = Chat($"hello\n/save {file}\n/clear\nhello\n/load {file}\nagain\n/nope\n/load {Path.Combine(tree.Root, "missing.json")}\n/exit\nnever\n");
        Assert.Equal(0, code);
        var usage = Usage(err);
        Assert.Equal(3, usage.Count);
        Assert.Equal(usage[0].Input, usage[1].Input);
        Assert.True(usage[2].Input > usage[0].Input);
        Assert.Contains("saved 2 messages", err, StringComparison.Ordinal);
        Assert.Contains("loaded 2 messages", err, StringComparison.Ordinal);
        Assert.Contains("commands are", err, StringComparison.Ordinal);
        Assert.Contains("cannot load", err, StringComparison.Ordinal);
        Assert.Contains("\"role\":\"user\"", File.ReadAllText(file), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_options_are_usage_errors()
    {
        var (code, _, err) = CliRunner.Run("chat", "-m", Fixtures.Model("tiny-llama-q8_0.gguf"), "-n", "0");
        Assert.Equal(2, code);
        Assert.Contains("--n-predict", err, StringComparison.Ordinal);
        (code, _, err) = CliRunner.Run("chat", "-m", Path.Combine(Fixtures.Root, "no-such.gguf"));
        Assert.Equal(2, code);
        Assert.Contains("not found", err, StringComparison.Ordinal);
    }
}
