using Fathom.Tokenization;

namespace Fathom.Context;

/// <summary>Counts the tokens a text costs with one model's tokenizer. Budgets are always counted, never estimated by characters.</summary>
public interface ITokenCounter
{
    /// <summary>Tokens of <paramref name="text"/> as it would appear inside a prompt (no BOS/EOS added).</summary>
    int CountTokens(string text);
}

/// <summary>The model's own tokenizer as an <see cref="ITokenCounter"/>.</summary>
public sealed class TokenizerCounter(ITokenizer tokenizer) : ITokenCounter
{
    private readonly ITokenizer _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));

    public int CountTokens(string text) => _tokenizer.CountTokens(text, addSpecial: false, parseSpecial: false);
}

/// <summary>A request does not fit its token budget and no strategy can make it fit.</summary>
public sealed class ContextBudgetException(string message) : Exception(message);
