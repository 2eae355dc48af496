namespace Fathom.Sampling;

/// <summary>
/// How one sequence picks its next token. Defaults are "plain sampling at temperature 1" with every filter off;
/// <see cref="Temperature"/> 0 means greedy. Values are validated by <see cref="SamplerChain"/>'s constructor.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>0 → greedy (argmax, lowest id on ties); otherwise logits are divided by it before the draw.</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep the k most likely tokens (ties broken by lowest id); 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest most-likely prefix whose probability mass is ≥ p; 1 = off.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Keep tokens whose probability is ≥ MinP × the top probability; 0 = off.</summary>
    public float MinP { get; init; }

    /// <summary>Locally typical sampling (Meister et al.): keep the tokens closest to the entropy until mass ≥ p; 1 = off.</summary>
    public float TypicalP { get; init; } = 1f;

    /// <summary>llama.cpp repetition penalty over the last <see cref="PenaltyLastN"/> tokens: positive logits divided, negative multiplied; 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>OpenAI frequency penalty: logit −= count × value, counted over the last <see cref="PenaltyLastN"/> tokens; 0 = off.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>OpenAI presence penalty: logit −= value when the token occurs in the last <see cref="PenaltyLastN"/> tokens; 0 = off.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>How many of the most recent history tokens the penalties look at (llama.cpp <c>penalty_last_n</c>); −1 = all.</summary>
    public int PenaltyLastN { get; init; } = 64;

    /// <summary>Added to a token's logit before anything else (OpenAI <c>logit_bias</c>); −∞ bans the token.</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>Seed of the draw; the same seed and the same logits give the same tokens. Null → a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>True when <see cref="Temperature"/> makes the chain a plain argmax.</summary>
    public bool IsGreedy => Temperature <= 0f;

    /// <summary>Greedy decoding with no penalties.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0f };
}
