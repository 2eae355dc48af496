namespace Fathom.Server.Tests;

public sealed class StopSequenceFilterTests
{
    private static (string Emitted, string? Matched) Run(string[] stops, params string[] pieces)
    {
        var filter = new StopSequenceFilter(stops);
        var sb = new System.Text.StringBuilder();
        foreach (string p in pieces)
        {
            sb.Append(filter.Push(p, out string? matched));
            if (matched is not null)
                return (sb.ToString(), matched);
        }
        return (sb.Append(filter.Flush()).ToString(), null);
    }

    [Fact]
    public void A_stop_split_across_pieces_is_found_and_nothing_after_it_is_emitted() =>
        Assert.Equal(("Hello ", "END"), Run(["END"], "Hello E", "N", "D and more"));

    [Fact]
    public void A_partial_match_that_does_not_complete_is_released() =>
        Assert.Equal(("Hello ENx done", (string?)null), Run(["END"], "Hello E", "N", "x done"));

    [Fact]
    public void The_earliest_of_several_stops_wins() =>
        Assert.Equal(("a ", "bb"), Run(["cc", "bb"], "a bb cc"));

    [Fact]
    public void Without_stops_text_passes_through() =>
        Assert.Equal(("abc", (string?)null), Run([], "a", "b", "c"));
}
