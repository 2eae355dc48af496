using System.Text.Json;

namespace Fathom.Server;

/// <summary>
/// Sampling fields neither official API has but local-model clients send (vLLM and llama.cpp servers
/// accept them): <c>top_k</c>, <c>min_p</c>, <c>repetition_penalty</c> on chat completions, <c>min_p</c> on messages.
/// </summary>
internal static class SamplingExtensions
{
    public static GenerationSettings Apply(JsonFields f, GenerationSettings settings)
    {
        long? topK = f.Integer("top_k", 0, int.MaxValue);
        double? minP = f.Number("min_p", 0, 1);
        double? repetition = f.Number("repetition_penalty", 0.01, 10);
        return settings with
        {
            TopK = topK is { } k ? (int)k : settings.TopK,
            MinP = minP is { } p ? (float)p : settings.MinP,
            RepetitionPenalty = repetition is { } r ? (float)r : settings.RepetitionPenalty,
        };
    }

    /// <summary>Anthropic: <c>min_p</c> follows the version rule of the other sampling fields (rejected on 2026-10-21).</summary>
    public static float? MinP(JsonElement root, string version)
    {
        if (!root.TryGetProperty("min_p", out _))
            return null;
        var f = new JsonFields(root, "", anthropic: true);
        if (version == Anthropic.AnthropicRequest.Version2026)
            throw f.Error("min_p", "Extra inputs are not permitted");
        return f.Number("min_p", 0, 1) is { } p ? (float)p : null;
    }
}
