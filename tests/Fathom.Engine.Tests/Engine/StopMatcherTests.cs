using Fathom.Engine;

namespace Fathom.Engine.Tests.Engine;

public class StopMatcherTests
{
    [Fact]
    public void A_stop_split_across_pushes_is_held_back_and_never_emitted()
    {
        var m = new StopMatcher(["</end>"]);
        Assert.Equal("hello ", m.Push("hello <", out var s1));
        Assert.Null(s1);
        Assert.Equal("", m.Push("/en", out _));
        Assert.Equal("", m.Push("d> tail", out var s2));
        Assert.Equal("</end>", s2);
        Assert.Equal("", m.Flush());
    }

    [Fact]
    public void Matching_ends_at_the_earliest_stop()
    {
        var m = new StopMatcher(["bb", "c"]);
        Assert.Equal("a", m.Push("ac bb", out var s));
        Assert.Equal("c", s);
    }

    [Fact]
    public void Text_that_cannot_start_a_stop_passes_at_once()
    {
        var m = new StopMatcher(["STOP"]);
        Assert.Equal("abc", m.Push("abc", out _));
        Assert.Equal("x", m.Push("xST", out _));
        Assert.Equal("", m.Push("O", out _));
        Assert.Equal("", m.Push("P tail", out var s));
        Assert.Equal("STOP", s);
        Assert.Equal("", m.Flush());
    }

    [Fact]
    public void Held_text_flushes_when_the_stream_ends()
    {
        var m = new StopMatcher(["STOP"]);
        Assert.Equal("a", m.Push("aSTO", out _));
        Assert.Equal("STO", m.Flush());
    }
}
