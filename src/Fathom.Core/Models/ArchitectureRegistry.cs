namespace Fathom.Models;

/// <summary>One model family: which tensors a block has and how a block is composed from the shared blocks.</summary>
internal interface IModelFamily
{
    /// <summary>The <c>general.architecture</c> value.</summary>
    string Architecture { get; }

    RopeStyle RopeStyle { get; }

    LayerWeights BindLayer(WeightBinder w, int layer);

    /// <summary>Runs block <paramref name="layer"/> on the residual stream <see cref="TransformerBlocks.X"/>.</summary>
    void Layer(TransformerBlocks b, LayerWeights w, int layer);
}

/// <summary>The architectures Fathom can run, keyed by GGUF <c>general.architecture</c>.</summary>
public static class ArchitectureRegistry
{
    private static readonly Dictionary<string, IModelFamily> Families = new IModelFamily[]
    {
        new Llama(), new Qwen2(), new Qwen3(), new Qwen3Moe(),
    }.ToDictionary(f => f.Architecture, StringComparer.Ordinal);

    /// <summary>Supported <c>general.architecture</c> values, sorted.</summary>
    public static IReadOnlyList<string> Supported { get; } = [.. Families.Keys.Order(StringComparer.Ordinal)];

    internal static string SupportedList => string.Join(", ", Supported);

    public static bool IsSupported(string architecture) => Families.ContainsKey(architecture);

    internal static IModelFamily Resolve(string architecture, string where) =>
        Families.TryGetValue(architecture, out var family)
            ? family
            : throw new ModelFormatException($"{where}: architecture '{architecture}' is not supported; supported architectures: {SupportedList}");
}
