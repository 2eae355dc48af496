using BenchmarkDotNet.Attributes;
using Fathom.Gguf;

namespace Fathom.Benchmarks;

/// <summary>Opening (mapping and validating the header of) a GGUF file with a 128K-token vocabulary.</summary>
[MemoryDiagnoser]
public class GgufOpenBenchmarks
{
    private string _path = "";

    [GlobalSetup]
    public void Setup() => _path = BenchPaths.Fixture("vocab", "ggml-vocab-llama-bpe.gguf");

    [Benchmark]
    public int OpenLlama3Vocab()
    {
        using var f = GgufFile.Open(_path);
        return f.Metadata.Count;
    }
}
