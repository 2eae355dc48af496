using CsCheck;
using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class ContextWindowManagerTests
{
    private static readonly ITokenCounter Words = new WordCounter();

    private static List<ChatTurn> Turns(params int[] words) =>
        words.Select((w, i) => new ChatTurn(i % 2 == 0 ? "user" : "assistant", string.Join(' ', Enumerable.Repeat($"w{i}", w)))).ToList();

    [Fact]
    public void Documents_are_taken_by_score_and_the_rest_reported()
    {
        var manager = new ContextWindowManager(Fixtures.Counter);
        var docs = new List<ContextDocument>
        {
            new("low", "the quick brown fox jumps over the lazy dog", 0.1),
            new("high", "a tokenizer counts tokens exactly as llama.cpp does", 0.9),
            new("mid", string.Join(' ', Enumerable.Repeat("padding words", 200)), 0.5),
        };
        var budget = new TokenBudget(100, 40);
        var result = manager.SelectDocuments(docs, budget);
        Assert.Equal(["high", "low"], result.Selected.Select(s => s.Id));
        var dropped = Assert.Single(result.Dropped);
        Assert.Equal("mid", dropped.Id);
        Assert.Contains("does not fit", dropped.Reason);
        Assert.Equal(result.Selected.Sum(s => s.Tokens), result.TokensUsed);
        Assert.True(result.TokensUsed <= budget.Available);
        Assert.Equal(Fixtures.Counter.CountTokens(docs[1].Text), result.Selected[0].Tokens);
    }

    [Fact]
    public void Selection_never_exceeds_the_budget()
    {
        var manager = new ContextWindowManager(Fixtures.Counter, perItemOverhead: 3);
        Gen.Select(Gen.String[Gen.Char.AlphaNumeric, 0, 80].Array[0, 12], Gen.Int[1, 120]).Sample((texts, available) =>
        {
            var docs = texts.Select((t, i) => new ContextDocument($"d{i}", t, (i * 7919) % 13)).ToList();
            var result = manager.SelectDocuments(docs, new TokenBudget(available, 0));
            Assert.True(result.TokensUsed <= available);
            Assert.Equal(docs.Count, result.Selected.Count + result.Dropped.Count);
            Assert.Equal(result.Selected.Sum(s => (long)s.Tokens), result.TokensUsed);
        }, iter: 200);
    }

    [Fact]
    public void Relevant_documents_rank_by_bm25()
    {
        var manager = new ContextWindowManager(Words);
        var docs = new List<(string, string)> { ("a", "kv cache pages and block pool"), ("b", "price table with long context tiers"), ("c", "unrelated text here") };
        var result = manager.SelectRelevant("priceTable tiers", docs, new TokenBudget(1000, 0));
        Assert.Equal("b", result.Selected[0].Id);
    }

    [Fact]
    public void A_conversation_that_fits_is_untouched()
    {
        var fit = new ContextWindowManager(Words).FitConversation(Turns(3, 4, 5), new TokenBudget(12, 0), TruncationStrategy.DropOldest);
        Assert.False(fit.Shortened);
        Assert.Equal([0, 1, 2], fit.KeptIndices);
        Assert.Equal(12, fit.TokensUsed);
    }

    [Fact]
    public void Drop_oldest_keeps_the_newest_contiguous_turns()
    {
        var fit = new ContextWindowManager(Words).FitConversation(Turns(5, 5, 5, 5, 5), new TokenBudget(12, 0), TruncationStrategy.DropOldest);
        Assert.Equal([3, 4], fit.KeptIndices);
        Assert.Equal([0, 1, 2], fit.Dropped.Select(d => d.Index));
        Assert.All(fit.Dropped, d => Assert.Contains("drop-oldest", d.Reason));
        Assert.Equal(10, fit.TokensUsed);
    }

    [Fact]
    public void Drop_oldest_does_not_skip_over_a_big_turn()
    {
        // Turn 2 is too big; keeping turn 1 behind it would leave a hole in the dialogue.
        var fit = new ContextWindowManager(Words).FitConversation(Turns(1, 1, 50, 2), new TokenBudget(10, 0), TruncationStrategy.DropOldest);
        Assert.Equal([3], fit.KeptIndices);
    }

    [Fact]
    public void Keep_first_and_last_keeps_the_task_and_the_latest_turns()
    {
        var fit = new ContextWindowManager(Words).FitConversation(Turns(4, 5, 5, 5, 3), new TokenBudget(12, 0), TruncationStrategy.KeepFirstAndLast);
        Assert.Equal([0, 3, 4], fit.KeptIndices);
        Assert.Equal([1, 2], fit.Dropped.Select(d => d.Index));
        Assert.All(fit.Dropped, d => Assert.Contains("keep-first-and-last", d.Reason));
    }

    [Fact]
    public void Middle_out_keeps_both_ends()
    {
        var fit = new ContextWindowManager(Words).FitConversation(Turns(2, 2, 2, 2, 2, 2, 2), new TokenBudget(9, 0), TruncationStrategy.MiddleOut);
        // Last, then alternately first, second-to-last, second: 4 turns of 2 = 8 ≤ 9.
        Assert.Equal([0, 1, 5, 6], fit.KeptIndices);
        Assert.Equal([2, 3, 4], fit.Dropped.Select(d => d.Index));
    }

    [Fact]
    public void A_last_turn_too_big_is_an_error_not_a_silent_cut()
    {
        var manager = new ContextWindowManager(Words);
        Assert.Throws<ContextBudgetException>(() => manager.FitConversation(Turns(1, 20), new TokenBudget(10, 0), TruncationStrategy.MiddleOut));
    }

    [Fact]
    public void Every_strategy_fits_and_accounts_for_every_turn()
    {
        var manager = new ContextWindowManager(Fixtures.Counter, perItemOverhead: 4);
        Gen.Select(Gen.Int[0, 40].Array[1, 15], Gen.Int[50, 400], Gen.Enum<TruncationStrategy>()).Sample((sizes, available, strategy) =>
        {
            var turns = sizes.Select((s, i) => new ChatTurn("user", string.Join(' ', Enumerable.Repeat("token", s)))).ToList();
            var budget = new TokenBudget(available, 0);
            ConversationFit fit;
            try
            {
                fit = manager.FitConversation(turns, budget, strategy);
            }
            catch (ContextBudgetException)
            {
                Assert.True(Fixtures.Counter.CountTokens(turns[^1].Content) + 4 > available);
                return;
            }
            Assert.True(fit.TokensUsed <= available);
            Assert.Contains(turns.Count - 1, fit.KeptIndices);
            Assert.Equal(turns.Count, fit.KeptIndices.Count + fit.Dropped.Count);
            // The dropped turns are one contiguous run.
            if (fit.Dropped.Count > 0)
                Assert.Equal(fit.Dropped.Count - 1, fit.Dropped[^1].Index - fit.Dropped[0].Index);
        }, iter: 200);
    }
}
