namespace Fathom.Context;

/// <summary>
/// The prompt of a question about a repository, before any chat template: the packed repository first (a stable,
/// deterministic prefix a prompt cache can key on), the question last. <see cref="PromptTokens"/> counts
/// <see cref="System"/> plus <see cref="User"/> with the model's tokenizer.
/// </summary>
public sealed record RepoQuestion(string System, string User, PackResult Pack, TokenBudget Budget, int PromptTokens)
{
    public const string DefaultSystemPrompt =
        "You answer questions about the repository given below. Cite file paths. If the files shown do not contain the answer, say so.";

    /// <summary>Separates the packed repository from the question in the user turn.</summary>
    public const string QuestionSeparator = "\n\nQuestion: ";

    /// <summary>
    /// Packs <paramref name="root"/> into what the context leaves after the answer's reserve, the system prompt, the
    /// question and <paramref name="templateOverheadTokens"/> (the chat template's markers, which the caller knows).
    /// </summary>
    public static RepoQuestion Build(string root, string question, ITokenCounter counter, int contextLength, int outputReserve,
        int templateOverheadTokens = 0, string? systemPrompt = null, PackOptions? options = null, IProgress<PackProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(counter);
        if (string.IsNullOrWhiteSpace(question))
            throw new ArgumentException("the question is empty", nameof(question));
        ArgumentOutOfRangeException.ThrowIfNegative(templateOverheadTokens);
        string system = systemPrompt ?? DefaultSystemPrompt;
        string tail = QuestionSeparator + question;
        // The separator and question are counted on their own; the seam with the pack is absorbed by the final check below.
        int fixedTokens = counter.CountTokens(system) + counter.CountTokens(tail) + templateOverheadTokens;
        var budget = new TokenBudget(contextLength, outputReserve, fixedTokens);
        if (budget.Available <= 0)
            throw new ContextBudgetException($"no room for the repository: {budget}");
        var packOptions = (options ?? new PackOptions { Budget = budget.Available }) with { Budget = budget.Available };
        for (int slack = 0; ; slack = Math.Max(8, slack * 2))
        {
            var pack = RepoPacker.Pack(root, counter, packOptions with { Budget = budget.Available - slack }, progress, cancellation);
            string user = pack.Output + tail;
            int tokens = counter.CountTokens(system) + counter.CountTokens(user);
            if (tokens + templateOverheadTokens <= contextLength - outputReserve)
                return new RepoQuestion(system, user, pack, budget, tokens);
            if (budget.Available - slack <= 8)
                throw new ContextBudgetException($"the question does not fit: {budget}");
        }
    }
}
