using Fathom.Gguf;
using Fathom.Tensors;
using Fathom.Threading;

namespace Fathom.Models;

/// <summary>
/// A weight matrix of <see cref="Rows"/> outputs × <see cref="Columns"/> inputs (ggml [Columns, Rows])
/// viewed in the mapped file; y = W·x over a batch through <see cref="Kernels.MatMul"/>, which rounds
/// the activations to the weight type's vec-dot type as llama.cpp does.
/// </summary>
internal sealed class Linear(TensorView weight)
{
    public TensorView Weight { get; } = weight;
    public string Name => Weight.Name;
    public GgmlType Type => Weight.Type;
    public int Rows { get; } = checked((int)weight.Rows);
    public int Columns { get; } = checked((int)weight.Columns);

    public static bool Supports(GgmlType type) => Kernels.Supports(type);

    /// <summary>y[t, r] = Σ_c W[r, c]·x[t, c] for t in [0, n).</summary>
    public void Apply(ReadOnlySpan<float> x, int n, Span<float> y, WorkerPool? pool) =>
        Kernels.MatMul(Weight, x[..(n * Columns)], n, y[..(n * Rows)], pool);
}
