using Fathom.Cost;

namespace Fathom.Engine.Tests.Cost;

public class CostEstimatorTests
{
    private static readonly PriceTable Table = PriceTable.Parse("""
        { "schema": 1, "version": "t", "date": "2026-01-01", "defaultModel": "tiered",
          "cacheWrite5mMultiplier": 1.25, "cacheWrite1hMultiplier": 2, "cacheReadMultiplier": 0.1, "batchDiscount": 0.5,
          "models": [
            { "name": "tiered", "input": 3, "output": 15, "longContext": { "threshold": 200000, "input": 6, "output": 22.5 } },
            { "name": "flat", "input": 1, "output": 5 } ] }
        """);

    private static CostEstimate Estimate(CostRequest r, string? model = null) => CostEstimator.Estimate(Table, model, r);

    [Fact]
    public void Plain_request_is_tokens_times_rate_per_million()
    {
        var e = Estimate(new CostRequest(100_000, 1_000));
        Assert.False(e.LongContext);
        Assert.Equal(0.3m, e.InputCost);
        Assert.Equal(0.015m, e.OutputCost);
        Assert.Equal(0.315m, e.Total);
    }

    [Fact]
    public void Exactly_at_the_threshold_is_the_standard_tier()
    {
        var e = Estimate(new CostRequest(200_000, 1_000_000));
        Assert.False(e.LongContext);
        Assert.Equal(0.6m, e.InputCost);
        Assert.Equal(15m, e.OutputCost);
    }

    [Fact]
    public void One_token_above_bills_the_whole_request_at_the_long_context_rates()
    {
        var e = Estimate(new CostRequest(200_001, 1_000_000));
        Assert.True(e.LongContext);
        Assert.Equal(200_001m * 6m / 1_000_000m, e.InputCost);
        Assert.Equal(22.5m, e.OutputCost);
    }

    [Fact]
    public void Cache_writes_and_reads_count_towards_the_threshold()
    {
        // 100,000 + 50,000 + 50,000 = 200,000: standard; one more read token crosses it.
        Assert.False(Estimate(new CostRequest(100_000, 0, CacheWriteTokens: 50_000, CacheReadTokens: 50_000)).LongContext);
        var e = Estimate(new CostRequest(100_000, 0, CacheWriteTokens: 50_000, CacheReadTokens: 50_001));
        Assert.True(e.LongContext);
        Assert.Equal(200_001, e.TierInputTokens);
        Assert.Equal(50_000m * 6m * 1.25m / 1_000_000m, e.CacheWriteCost);
        Assert.Equal(50_001m * 6m * 0.1m / 1_000_000m, e.CacheReadCost);
    }

    [Fact]
    public void Cache_multipliers_by_ttl()
    {
        Assert.Equal(0.375m, Estimate(new CostRequest(0, 0, CacheWriteTokens: 100_000)).CacheWriteCost);
        Assert.Equal(0.6m, Estimate(new CostRequest(0, 0, CacheWriteTokens: 100_000, CacheTtl: CacheTtl.OneHour)).CacheWriteCost);
        Assert.Equal(0.03m, Estimate(new CostRequest(0, 0, CacheReadTokens: 100_000)).CacheReadCost);
    }

    [Fact]
    public void Batch_halves_every_component()
    {
        var request = new CostRequest(300_000, 10_000, CacheWriteTokens: 20_000, CacheTtl: CacheTtl.OneHour, CacheReadTokens: 30_000);
        var full = Estimate(request);
        var batch = Estimate(request with { Batch = true });
        Assert.True(full.LongContext && batch.LongContext);
        Assert.Equal(full.InputCost / 2, batch.InputCost);
        Assert.Equal(full.CacheWriteCost / 2, batch.CacheWriteCost);
        Assert.Equal(full.CacheReadCost / 2, batch.CacheReadCost);
        Assert.Equal(full.OutputCost / 2, batch.OutputCost);
        Assert.Equal(full.Total / 2, batch.Total);
    }

    [Fact]
    public void A_model_without_a_tier_never_switches()
    {
        var e = Estimate(new CostRequest(5_000_000, 0), "flat");
        Assert.False(e.LongContext);
        Assert.Equal(5m, e.InputCost);
    }

    [Fact]
    public void Arithmetic_is_exact_decimal()
    {
        // 0.1 + 0.2 style sums stay exact: 1 token at $3/MTok is exactly 0.000003.
        var e = Estimate(new CostRequest(1, 1));
        Assert.Equal(0.000003m, e.InputCost);
        Assert.Equal(0.000018m, e.Total);
    }

    [Fact]
    public void Negative_counts_and_unknown_models_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Estimate(new CostRequest(-1, 0)));
        Assert.Throws<PriceTableException>(() => Estimate(new CostRequest(1, 1), "nope"));
    }

    [Fact]
    public void Server_usage_bills_cached_prompt_tokens_as_cache_reads()
    {
        var e = CostEstimator.EstimateUsage("tiered", promptTokens: 150_000, cachedPromptTokens: 100_000, outputTokens: 1_000, Table)!;
        Assert.Equal(0.15m, e.InputCost);
        Assert.Equal(0.03m, e.CacheReadCost);
        Assert.Equal(0m, e.CacheWriteCost);
        Assert.Equal(0.015m, e.OutputCost);
        // The tier counts cached tokens too: one token above the threshold switches the whole request.
        Assert.True(CostEstimator.EstimateUsage("tiered", 200_001, 200_000, 0, Table)!.LongContext);
        Assert.False(CostEstimator.EstimateUsage("tiered", 200_000, 200_000, 0, Table)!.LongContext);
    }

    [Fact]
    public void Server_usage_for_an_unpriced_model_is_null_and_bad_counts_throw()
    {
        Assert.Null(CostEstimator.EstimateUsage("fathom-demo", 10, 0, 10, Table));
        Assert.NotNull(CostEstimator.EstimateUsage(PriceTable.Default.DefaultModelName!, 10, 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => CostEstimator.EstimateUsage("flat", 10, 11, 0, Table));
        Assert.Throws<ArgumentOutOfRangeException>(() => CostEstimator.EstimateUsage("flat", 10, 0, -1, Table));
    }
}
