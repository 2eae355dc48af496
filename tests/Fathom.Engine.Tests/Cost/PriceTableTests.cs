using Fathom.Cost;

namespace Fathom.Engine.Tests.Cost;

public class PriceTableTests
{
    private const string Minimal = """
        { "schema": 1, "version": "test-1", "date": "2026-01-01",
          "models": [ { "name": "m", "aliases": ["mm"], "input": 0.1, "output": 2.5 } ] }
        """;

    [Fact]
    public void The_default_table_is_versioned_and_complete()
    {
        var t = PriceTable.Default;
        Assert.False(string.IsNullOrWhiteSpace(t.Version));
        Assert.False(string.IsNullOrWhiteSpace(t.Date));
        Assert.Equal(1.25m, t.CacheWrite5mMultiplier);
        Assert.Equal(2m, t.CacheWrite1hMultiplier);
        Assert.Equal(0.1m, t.CacheReadMultiplier);
        Assert.Equal(0.5m, t.BatchDiscount);
        Assert.NotNull(t.DefaultModelName);
        Assert.Same(t.Find("sonnet-4.5"), t.Find("CLAUDE-SONNET-4-5"));
        Assert.All(t.Models, m => Assert.True(m.OutputPerMTok >= m.InputPerMTok));
        Assert.Contains(t.Models, m => m.LongContext is { ThresholdTokens: 200_000 });
    }

    [Fact]
    public void Prices_are_exact_decimals()
    {
        var m = PriceTable.Parse(Minimal).Find("mm");
        Assert.Equal(0.1m, m.InputPerMTok);
        Assert.Equal(2.5m, m.OutputPerMTok);
    }

    [Fact]
    public void A_user_table_overrides_models_and_multipliers()
    {
        var user = PriceTable.Parse("""
            { "schema": 1, "version": "mine", "date": "2026-03-01", "cacheReadMultiplier": 0.2,
              "models": [ { "name": "claude-sonnet-4-5", "input": 1, "output": 2 }, { "name": "local", "input": 0, "output": 0 } ] }
            """);
        var merged = PriceTable.Default.OverrideWith(user);
        Assert.Equal("mine", merged.Version);
        Assert.Equal(1m, merged.Find("claude-sonnet-4-5").InputPerMTok);
        Assert.Null(merged.Find("claude-sonnet-4-5").LongContext);
        Assert.Null(merged.TryFind("sonnet-4.5")); // the replaced entry's aliases went with it
        Assert.Equal(0m, merged.Find("local").OutputPerMTok);
        Assert.Equal(0.2m, merged.CacheReadMultiplier);
        Assert.Equal(1.25m, merged.CacheWrite5mMultiplier);
        Assert.Equal(PriceTable.Default.Find("claude-haiku-4-5"), merged.Find("claude-haiku-4-5"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("""{ "schema": 2, "version": "v", "date": "d", "models": [] }""")]
    [InlineData("""{ "schema": 1, "date": "d", "models": [] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d" }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "models": [ { "name": "m", "input": "3", "output": 1 } ] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "models": [ { "name": "m", "input": -1, "output": 1 } ] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "models": [ { "name": "m", "output": 1 } ] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "models": [ { "name": "m", "input": 1, "output": 1 }, { "name": "M", "input": 1, "output": 1 } ] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "models": [ { "name": "m", "input": 1, "output": 1, "longContext": { "threshold": 0, "input": 2, "output": 2 } } ] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "batchDiscount": 1.5, "models": [] }""")]
    [InlineData("""{ "schema": 1, "version": "v", "date": "d", "defaultModel": "nope", "models": [] }""")]
    public void Bad_tables_are_typed_errors(string json)
    {
        Assert.Throws<PriceTableException>(() => PriceTable.Parse(json));
    }

    [Fact]
    public void Unknown_models_and_missing_files_are_typed_errors()
    {
        var ex = Assert.Throws<PriceTableException>(() => PriceTable.Default.Find("gpt-nothing"));
        Assert.Contains("claude-sonnet-4-5", ex.Message);
        Assert.Throws<PriceTableException>(() => PriceTable.Load("/nonexistent/prices.json"));
        Assert.Throws<PriceTableException>(() => PriceTable.Parse(Minimal).CacheReadMultiplier);
    }
}
