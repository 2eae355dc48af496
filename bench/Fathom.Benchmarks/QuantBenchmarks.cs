using BenchmarkDotNet.Attributes;
using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Benchmarks;

/// <summary>Dequantizing a 4096-wide row, quantizing it (llama-quantize rules) and quantizing activations (CPU-backend rules).</summary>
[MemoryDiagnoser]
public class QuantBenchmarks
{
    private const int N = 4096;
    private readonly float[] _x = new float[N];
    private readonly float[] _y = new float[N];
    private byte[] _q = [];
    private readonly byte[] _act = new byte[GgmlTypeInfo.RowSize(GgmlType.Q8_K, N) + GgmlTypeInfo.RowSize(GgmlType.Q8_1, N)];

    [Params(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS, GgmlType.F16)]
    public GgmlType Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        for (int i = 0; i < N; i++)
            _x[i] = (float)(rng.NextDouble() * 2 - 1);
        _q = new byte[GgmlTypeInfo.RowSize(Type, N)];
        Quantize.Row(Type, _x, _q);
    }

    [Benchmark]
    public void DequantizeRow() => Dequantize.Row(Type, _q, _y);

    [Benchmark]
    public int QuantizeRow() => Quantize.Row(Type, _x, _q);

    [Benchmark]
    public void ActivationsForDot()
    {
        var vecDot = Q8Activations.VecDotType(Type);
        Q8Activations.Row(vecDot, _x, _act);
    }
}
