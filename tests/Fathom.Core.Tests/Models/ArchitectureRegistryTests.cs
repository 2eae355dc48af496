using Fathom.Gguf;
using Fathom.Models;

namespace Fathom.Tests.Models;

public class ArchitectureRegistryTests
{
    [Fact]
    public void Lists_the_supported_architectures()
    {
        Assert.Equal(["llama", "qwen2", "qwen3", "qwen3moe"], ArchitectureRegistry.Supported);
        Assert.True(ArchitectureRegistry.IsSupported("qwen3moe"));
        Assert.False(ArchitectureRegistry.IsSupported("Llama"));
    }

    [Fact]
    public void Unknown_architecture_is_one_error_naming_it_and_the_supported_ones()
    {
        var g = TestGguf.RandomModel("llama").Set("general.architecture", "gptj");
        using var f = GgufFile.FromBytes(g.ToBytes());
        var ex = Assert.Throws<ModelFormatException>(() => Model.FromGguf(f));
        Assert.Contains("'gptj'", ex.Message);
        Assert.Contains("llama, qwen2, qwen3, qwen3moe", ex.Message);
    }
}
