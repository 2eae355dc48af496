using Fathom.Engine;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace Fathom.Extensions.AI;

public static class FathomServiceCollectionExtensions
{
    /// <summary>Registers one <see cref="InferenceEngine"/> for the GGUF at <paramref name="modelPath"/> and an <see cref="IChatClient"/> over it (singletons).</summary>
    public static IServiceCollection AddFathomChatClient(this IServiceCollection services, string modelPath, EngineOptions? options = null, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        return services.AddFathomChatClient(_ => InferenceEngine.Load(modelPath, options), modelId ?? Path.GetFileNameWithoutExtension(modelPath));
    }

    /// <summary>Registers the engine <paramref name="engineFactory"/> makes and an <see cref="IChatClient"/> over it (singletons; the container disposes the engine).</summary>
    public static IServiceCollection AddFathomChatClient(this IServiceCollection services, Func<IServiceProvider, InferenceEngine> engineFactory, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(engineFactory);
        services.AddSingleton(engineFactory);
        services.AddSingleton<IChatClient>(sp => new FathomChatClient(sp.GetRequiredService<InferenceEngine>(), modelId));
        return services;
    }
}
