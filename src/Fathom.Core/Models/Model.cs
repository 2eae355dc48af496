using Fathom.Gguf;

namespace Fathom.Models;

/// <summary>
/// A loaded model: its configuration, its family and its weights as views into the GGUF mapping.
/// Immutable and shareable; each sequence runs in its own <see cref="ModelSession"/>.
/// </summary>
public sealed class Model : IDisposable
{
    private readonly bool _ownsFile;

    private Model(GgufFile file, bool ownsFile)
    {
        File = file;
        _ownsFile = ownsFile;
        Config = ModelConfig.FromGguf(file);
        Family = ArchitectureRegistry.Resolve(Config.Architecture, file.Path ?? "GGUF");
        var binder = new WeightBinder(file, Config);
        Weights = binder.BindModel(Family.BindLayer);
    }

    public ModelConfig Config { get; }
    public GgufFile File { get; }

    /// <summary>True when the output projection reuses the token embedding (no <c>output.weight</c>).</summary>
    public bool TiedOutput => Weights.TiedOutput;

    internal IModelFamily Family { get; }
    internal ModelWeights Weights { get; }

    /// <summary>Opens and binds a GGUF model; the file stays mapped until the model is disposed.</summary>
    public static Model Load(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            return new Model(file, ownsFile: true);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Binds a model over an open file the caller keeps ownership of.</summary>
    public static Model FromGguf(GgufFile file) => new(file ?? throw new ArgumentNullException(nameof(file)), ownsFile: false);

    /// <summary>
    /// A new sequence with an empty f16 KV cache of <paramref name="contextLength"/> positions
    /// (0: the trained context, at most 4096) computed on <paramref name="threads"/> threads.
    /// </summary>
    public ModelSession CreateSession(int contextLength = 0, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(contextLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        return CreateSession(new SessionOptions { ContextLength = contextLength, Threads = threads });
    }

    /// <summary>A new sequence with the cache, attention path and chunking of <paramref name="options"/>.</summary>
    public ModelSession CreateSession(SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.ContextLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Threads);
        int ctx = options.ContextLength > 0 ? options.ContextLength : Math.Min(Config.ContextLength, 4096);
        return new ModelSession(this, ctx, options);
    }

    public void Dispose()
    {
        if (_ownsFile)
            File.Dispose();
    }
}
