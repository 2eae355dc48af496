namespace Fathom.Context;

/// <summary>
/// How many prompt tokens are left for content: the model's context minus the room reserved for the
/// answer and the tokens the system prompt (and any fixed wrapper) already takes.
/// </summary>
public sealed class TokenBudget
{
    public TokenBudget(int contextLength, int outputReserve, int systemPromptTokens = 0)
    {
        if (contextLength <= 0)
            throw new ContextBudgetException($"context length {contextLength} must be positive");
        if (outputReserve < 0 || systemPromptTokens < 0)
            throw new ContextBudgetException($"output reserve ({outputReserve}) and system prompt tokens ({systemPromptTokens}) must not be negative");
        if ((long)outputReserve + systemPromptTokens > contextLength)
            throw new ContextBudgetException(
                $"the output reserve ({outputReserve}) and system prompt ({systemPromptTokens} tokens) exceed the context of {contextLength} tokens");
        ContextLength = contextLength;
        OutputReserve = outputReserve;
        SystemPromptTokens = systemPromptTokens;
    }

    /// <summary>A budget whose system prompt is counted with the model's tokenizer.</summary>
    public static TokenBudget ForSystemPrompt(int contextLength, int outputReserve, string systemPrompt, ITokenCounter counter)
    {
        ArgumentNullException.ThrowIfNull(systemPrompt);
        ArgumentNullException.ThrowIfNull(counter);
        return new TokenBudget(contextLength, outputReserve, systemPrompt.Length == 0 ? 0 : counter.CountTokens(systemPrompt));
    }

    public int ContextLength { get; }
    public int OutputReserve { get; }
    public int SystemPromptTokens { get; }

    /// <summary>Tokens left for documents and conversation turns.</summary>
    public int Available => ContextLength - OutputReserve - SystemPromptTokens;

    public override string ToString() =>
        $"{Available} of {ContextLength} tokens (reserve {OutputReserve} for output, {SystemPromptTokens} system prompt)";
}
