using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class RepoQuestionTests
{
    [Fact]
    public void The_prompt_fits_the_context_minus_the_reserve_and_ends_with_the_question()
    {
        using var tree = new TempTree()
            .Write("a.py", string.Join('\n', Enumerable.Range(0, 300).Select(i => $"def f{i}(): return {i}")))
            .Write("b.py", "import a\nprint(a.f1())\n");
        var counter = Fixtures.Counter;
        var q = RepoQuestion.Build(tree.Root, "What does f1 return?", counter, contextLength: 1500, outputReserve: 300, templateOverheadTokens: 10,
            cancellation: TestContext.Current.CancellationToken);
        Assert.EndsWith("\n\nQuestion: What does f1 return?", q.User);
        Assert.StartsWith(q.Pack.Output, q.User);
        Assert.Equal(counter.CountTokens(q.System) + counter.CountTokens(q.User), q.PromptTokens);
        Assert.True(q.PromptTokens + 10 <= 1500 - 300);
        Assert.NotEmpty(q.Pack.Packed);
    }

    [Fact]
    public void The_pack_is_the_same_prefix_for_different_questions()
    {
        using var tree = new TempTree().Write("a.cs", "namespace A;\npublic class A { }\n");
        var ct = TestContext.Current.CancellationToken;
        var q1 = RepoQuestion.Build(tree.Root, "What is A?", Fixtures.Counter, 4096, 512, cancellation: ct);
        var q2 = RepoQuestion.Build(tree.Root, "Where is A?", Fixtures.Counter, 4096, 512, cancellation: ct);
        Assert.Equal(q1.Pack.Output, q2.Pack.Output);
    }

    [Fact]
    public void No_room_is_a_typed_error()
    {
        using var tree = new TempTree().Write("a.txt", "x");
        Assert.Throws<ContextBudgetException>(() => RepoQuestion.Build(tree.Root, "why?", Fixtures.Counter, 40, 30, cancellation: TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentException>(() => RepoQuestion.Build(tree.Root, " ", Fixtures.Counter, 4000, 30, cancellation: TestContext.Current.CancellationToken));
    }
}
