using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class TokenBudgetTests
{
    [Fact]
    public void Available_is_context_minus_reserve_minus_system_prompt()
    {
        var counter = Fixtures.Counter;
        const string system = "You are a careful assistant. Answer from the repository only.";
        var budget = TokenBudget.ForSystemPrompt(8192, 1024, system, counter);
        Assert.Equal(counter.CountTokens(system), budget.SystemPromptTokens);
        Assert.True(budget.SystemPromptTokens > 5);
        Assert.Equal(8192 - 1024 - budget.SystemPromptTokens, budget.Available);
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(100, -1, 0)]
    [InlineData(100, 0, -1)]
    [InlineData(100, 60, 41)]
    public void Impossible_budgets_are_refused(int context, int reserve, int system)
    {
        Assert.Throws<ContextBudgetException>(() => new TokenBudget(context, reserve, system));
    }

    [Fact]
    public void Reserve_and_prompt_may_fill_the_context_exactly()
    {
        Assert.Equal(0, new TokenBudget(100, 60, 40).Available);
    }
}
