namespace Fathom.Context;

/// <summary>A document or chunk competing for room in the prompt; higher <see cref="Score"/> is more relevant.</summary>
public sealed record ContextDocument(string Id, string Text, double Score);

/// <summary>A document that made it into the prompt, with its token count.</summary>
public sealed record SelectedDocument(string Id, int Tokens, double Score);

/// <summary>Something left out of the prompt, and why.</summary>
public sealed record DroppedItem(string Id, int Tokens, string Reason);

/// <summary>The outcome of <see cref="ContextWindowManager.SelectDocuments"/>: what fits, in relevance order, and what was left out.</summary>
public sealed record DocumentSelection(
    IReadOnlyList<SelectedDocument> Selected, IReadOnlyList<DroppedItem> Dropped, int TokensUsed, int TokensAvailable);

/// <summary>One turn of a conversation.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>How a conversation that is too long is shortened. Every strategy keeps the last turn and drops one contiguous run.</summary>
public enum TruncationStrategy
{
    /// <summary>Drop turns from the start until the rest fits.</summary>
    DropOldest,

    /// <summary>Keep the first turn (the task) and as many of the latest turns as fit; drop what lies between.</summary>
    KeepFirstAndLast,

    /// <summary>Keep turns from both ends alternately (last, first, second-to-last, second, …); drop the middle.</summary>
    MiddleOut,
}

/// <summary>A turn left out of a conversation, by its index in the original list.</summary>
public sealed record DroppedTurn(int Index, string Role, int Tokens, string Reason);

/// <summary>The outcome of <see cref="ContextWindowManager.FitConversation"/>: the turns kept (original order) and each turn dropped.</summary>
public sealed record ConversationFit(
    TruncationStrategy Strategy, IReadOnlyList<int> KeptIndices, IReadOnlyList<ChatTurn> Kept, IReadOnlyList<DroppedTurn> Dropped,
    int TokensUsed, int TokensAvailable)
{
    public bool Shortened => Dropped.Count > 0;
}

/// <summary>
/// Decides what goes into a prompt of fixed size: documents by relevance, conversations by an explicit
/// strategy. Every token count comes from the model's tokenizer; everything left out is reported.
/// </summary>
public sealed class ContextWindowManager
{
    private readonly ITokenCounter _counter;
    private readonly int _perItemOverhead;

    /// <param name="counter">The model's tokenizer.</param>
    /// <param name="perItemOverhead">Tokens each document or turn costs beyond its text (template markers, separators).</param>
    public ContextWindowManager(ITokenCounter counter, int perItemOverhead = 0)
    {
        ArgumentNullException.ThrowIfNull(counter);
        ArgumentOutOfRangeException.ThrowIfNegative(perItemOverhead);
        _counter = counter;
        _perItemOverhead = perItemOverhead;
    }

    /// <summary>Greedy by score (ties: input order): each document is taken if it fits in what is left, else reported as dropped.</summary>
    public DocumentSelection SelectDocuments(IReadOnlyList<ContextDocument> documents, TokenBudget budget)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(budget);
        var order = new int[documents.Count];
        for (int i = 0; i < order.Length; i++)
            order[i] = i;
        Array.Sort(order, (a, b) =>
        {
            int c = documents[b].Score.CompareTo(documents[a].Score);
            return c != 0 ? c : a.CompareTo(b);
        });
        int available = budget.Available, used = 0;
        var selected = new List<SelectedDocument>();
        var dropped = new List<DroppedItem>();
        foreach (int i in order)
        {
            var doc = documents[i];
            int tokens = Cost(doc.Text);
            if (used + (long)tokens <= available)
            {
                used += tokens;
                selected.Add(new SelectedDocument(doc.Id, tokens, doc.Score));
            }
            else
            {
                dropped.Add(new DroppedItem(doc.Id, tokens, $"does not fit: needs {tokens} tokens, {available - used} left"));
            }
        }
        return new DocumentSelection(selected, dropped, used, available);
    }

    /// <summary>Scores the documents against <paramref name="query"/> with BM25 and selects by that score.</summary>
    public DocumentSelection SelectRelevant(string query, IReadOnlyList<(string Id, string Text)> documents, TokenBudget budget)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        var index = Bm25Index.Build(documents.Select(d => d.Text).ToList());
        var scores = index.Score(query);
        var docs = new ContextDocument[documents.Count];
        for (int i = 0; i < docs.Length; i++)
            docs[i] = new ContextDocument(documents[i].Id, documents[i].Text, scores[i]);
        return SelectDocuments(docs, budget);
    }

    /// <summary>
    /// Shortens <paramref name="turns"/> to fit the budget with <paramref name="strategy"/>. The last turn is always
    /// kept; <see cref="ContextBudgetException"/> when it alone does not fit.
    /// </summary>
    public ConversationFit FitConversation(IReadOnlyList<ChatTurn> turns, TokenBudget budget, TruncationStrategy strategy)
    {
        ArgumentNullException.ThrowIfNull(turns);
        ArgumentNullException.ThrowIfNull(budget);
        if (!Enum.IsDefined(strategy))
            throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "unknown truncation strategy");
        int n = turns.Count, available = budget.Available;
        var cost = new int[n];
        long total = 0;
        for (int i = 0; i < n; i++)
            total += cost[i] = Cost(turns[i].Content);
        var keep = new bool[n];
        if (total <= available)
        {
            Array.Fill(keep, true);
            return Result(turns, cost, keep, strategy, available, "");
        }
        if (cost[n - 1] > available)
            throw new ContextBudgetException($"the last turn alone needs {cost[n - 1]} tokens but only {available} are available");

        long used = cost[n - 1];
        keep[n - 1] = true;
        int lo = 0, hi = n - 2;
        switch (strategy)
        {
            case TruncationStrategy.DropOldest:
                TakeTail(cost, keep, ref hi, lo, ref used, available);
                return Result(turns, cost, keep, strategy, available, "dropped oldest first (drop-oldest)");
            case TruncationStrategy.KeepFirstAndLast:
                if (n > 1 && used + cost[0] <= available)
                {
                    keep[0] = true;
                    used += cost[0];
                    lo = 1;
                }
                TakeTail(cost, keep, ref hi, lo, ref used, available);
                return Result(turns, cost, keep, strategy, available, "dropped after the first turn (keep-first-and-last)");
            default:
                bool headOpen = true, tailOpen = true;
                while (lo <= hi && (headOpen || tailOpen))
                {
                    if (headOpen)
                    {
                        if (used + cost[lo] <= available) { used += cost[lo]; keep[lo++] = true; }
                        else headOpen = false;
                    }
                    if (lo <= hi && tailOpen)
                    {
                        if (used + cost[hi] <= available) { used += cost[hi]; keep[hi--] = true; }
                        else tailOpen = false;
                    }
                }
                return Result(turns, cost, keep, strategy, available, "dropped from the middle (middle-out)");
        }
    }

    private static void TakeTail(int[] cost, bool[] keep, ref int hi, int lo, ref long used, int available)
    {
        // Stop at the first turn that does not fit: skipping it and keeping older ones would leave a hole in the dialogue.
        while (hi >= lo && used + cost[hi] <= available)
        {
            used += cost[hi];
            keep[hi--] = true;
        }
    }

    private static ConversationFit Result(IReadOnlyList<ChatTurn> turns, int[] cost, bool[] keep, TruncationStrategy strategy, int available, string why)
    {
        long total = cost.Sum(c => (long)c);
        var keptIdx = new List<int>();
        var kept = new List<ChatTurn>();
        var dropped = new List<DroppedTurn>();
        int used = 0;
        for (int i = 0; i < keep.Length; i++)
        {
            if (keep[i])
            {
                keptIdx.Add(i);
                kept.Add(turns[i]);
                used += cost[i];
            }
            else
            {
                dropped.Add(new DroppedTurn(i, turns[i].Role, cost[i], $"conversation needs {total} tokens, {available} available: {why}"));
            }
        }
        return new ConversationFit(strategy, keptIdx, kept, dropped, used, available);
    }

    private int Cost(string text) => _counter.CountTokens(text ?? throw new ArgumentException("a document or turn has null text")) + _perItemOverhead;
}
