using Fathom.Tools;

namespace Fathom.Engine.Tests.Tools;

/// <summary>The format is read off real chat templates (the shared fixtures), by the markers each family renders.</summary>
public class ToolCallFormatsTests
{
    [Theory]
    [InlineData("Qwen-Qwen3-0.6B", ToolCallFormat.Hermes)]
    [InlineData("Qwen-QwQ-32B", ToolCallFormat.Hermes)]
    [InlineData("meta-llama-Llama-3.2-3B-Instruct", ToolCallFormat.Llama3)]
    [InlineData("mistralai-Mistral-Nemo-Instruct-2407", ToolCallFormat.Mistral)]
    [InlineData("Mistral-Small-3.2-24B-Instruct-2506", ToolCallFormat.MistralV11)]
    [InlineData("unsloth-mistral-Devstral-Small-2507", ToolCallFormat.MistralV11)]
    [InlineData("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", ToolCallFormat.DeepSeekR1)]
    [InlineData("CohereForAI-c4ai-command-r-plus-tool_use", ToolCallFormat.CommandR)]
    [InlineData("CohereForAI-c4ai-command-r7b-12-2024-tool_use", ToolCallFormat.CommandR7B)]
    [InlineData("Qwen3-Coder", ToolCallFormat.Qwen3Coder)]
    public void Detect_reads_the_family_from_the_template(string template, ToolCallFormat expected)
    {
        string source = File.ReadAllText(Path.Combine(Fixtures.Root, "chat-templates", "templates", template + ".jinja"));
        Assert.Equal(expected, ToolCallFormats.Detect(source));
    }

    [Fact]
    public void Detect_falls_back_on_the_architecture_then_hermes()
    {
        Assert.Equal(ToolCallFormat.Llama3, ToolCallFormats.Detect("<|start_header_id|>{% if tools %}{{ tools }}{% endif %}", "llama"));
        Assert.Equal(ToolCallFormat.Hermes, ToolCallFormats.Detect("{{ messages }}", "qwen2"));
        Assert.Equal(ToolCallFormat.Hermes, ToolCallFormats.Detect(null));
        // A template that cannot show tools gets the fallback prompt, which asks for Hermes calls.
        Assert.Equal(ToolCallFormat.Hermes, ToolCallFormats.Detect("<|start_header_id|>{{ m }}", "llama"));
    }

    [Fact]
    public void Parse_accepts_the_names_and_rejects_others()
    {
        Assert.Equal(ToolCallFormat.Hermes, ToolCallFormats.Parse("Qwen3"));
        Assert.Equal(ToolCallFormat.DeepSeekR1, ToolCallFormats.Parse("deepseek-r1"));
        Assert.Equal(ToolCallFormat.None, ToolCallFormats.Parse("none"));
        Assert.Equal(ToolCallFormat.Qwen3Coder, ToolCallFormats.Parse("qwen3-coder"));
        Assert.Throws<ArgumentException>(() => ToolCallFormats.Parse("xml"));
    }
}
