namespace Fathom.Cost;

/// <summary>How long a prompt-cache write lives; longer costs more to write.</summary>
public enum CacheTtl
{
    FiveMinutes,
    OneHour,
}

/// <summary>
/// One request's tokens. <see cref="InputTokens"/> are the uncached input tokens; cache writes and reads are
/// counted separately, as the Anthropic API's usage reports them.
/// </summary>
public sealed record CostRequest(long InputTokens, long OutputTokens, long CacheWriteTokens = 0, CacheTtl CacheTtl = CacheTtl.FiveMinutes,
    long CacheReadTokens = 0, bool Batch = false)
{
    /// <summary>What the long-context threshold is compared with: input + cache write + cache read tokens.</summary>
    public long TierInputTokens => checked(InputTokens + CacheWriteTokens + CacheReadTokens);
}

/// <summary>An estimate, broken down so a reader can check it by hand. Amounts in the table's currency, unrounded.</summary>
public sealed record CostEstimate(
    string Model, string TableVersion, string Currency, bool LongContext, long TierInputTokens,
    decimal InputPerMTok, decimal OutputPerMTok, decimal CacheWriteMultiplier, decimal CacheReadMultiplier, decimal BatchMultiplier,
    decimal InputCost, decimal CacheWriteCost, decimal CacheReadCost, decimal OutputCost)
{
    public decimal Total => InputCost + CacheWriteCost + CacheReadCost + OutputCost;
}

/// <summary>
/// Prices a request from a <see cref="PriceTable"/>. Rules: when the model has a long-context tier and
/// input + cache write + cache read tokens exceed its threshold (strictly), the whole request — input, cache and
/// output — is billed at the tier's rates. Cache writes cost the input rate × 1.25 (5 min) or × 2 (1 h); cache
/// reads × 0.1; a batch request takes the batch discount (50%) off every component. All arithmetic in decimal.
/// </summary>
public static class CostEstimator
{
    private const decimal Million = 1_000_000m;

    /// <summary>
    /// What a request served locally would have cost on a hosted model, from the usage a server reports:
    /// <paramref name="promptTokens"/> all input tokens, of which <paramref name="cachedPromptTokens"/> came from the
    /// prompt cache (billed as cache reads; the rest as plain input, no cache writes). Null when
    /// <paramref name="hostedModel"/> is not in the table, so a usage log can leave the field out. Uses
    /// <see cref="PriceTable.Default"/> unless a table is given.
    /// </summary>
    public static CostEstimate? EstimateUsage(string hostedModel, long promptTokens, long cachedPromptTokens, long outputTokens, PriceTable? table = null)
    {
        ArgumentNullException.ThrowIfNull(hostedModel);
        if (promptTokens < 0 || outputTokens < 0 || cachedPromptTokens < 0 || cachedPromptTokens > promptTokens)
            throw new ArgumentOutOfRangeException(nameof(cachedPromptTokens), $"usage {promptTokens} prompt ({cachedPromptTokens} cached), {outputTokens} output is not valid");
        table ??= PriceTable.Default;
        if (table.TryFind(hostedModel) is null)
            return null;
        return Estimate(table, hostedModel, new CostRequest(promptTokens - cachedPromptTokens, outputTokens, CacheReadTokens: cachedPromptTokens));
    }

    public static CostEstimate Estimate(PriceTable table, string? model, CostRequest request)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(request);
        if (request.InputTokens < 0 || request.OutputTokens < 0 || request.CacheWriteTokens < 0 || request.CacheReadTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(request), "token counts must not be negative");
        if (!Enum.IsDefined(request.CacheTtl))
            throw new ArgumentOutOfRangeException(nameof(request), "unknown cache TTL");
        string name = model ?? table.DefaultModelName ?? throw new PriceTableException($"price table {table.Version} names no default model; pass one");
        var price = table.Find(name);
        long tierInput = request.TierInputTokens;
        bool longContext = price.LongContext is { } tier && tierInput > tier.ThresholdTokens;
        decimal inRate = longContext ? price.LongContext!.InputPerMTok : price.InputPerMTok;
        decimal outRate = longContext ? price.LongContext!.OutputPerMTok : price.OutputPerMTok;
        decimal write = request.CacheWriteTokens == 0 ? 0m
            : request.CacheTtl == CacheTtl.OneHour ? table.CacheWrite1hMultiplier : table.CacheWrite5mMultiplier;
        decimal read = request.CacheReadTokens == 0 ? 0m : table.CacheReadMultiplier;
        decimal batch = request.Batch ? 1m - table.BatchDiscount : 1m;
        return new CostEstimate(price.Name, table.Version, table.Currency, longContext, tierInput, inRate, outRate, write, read, batch,
            InputCost: request.InputTokens * inRate / Million * batch,
            CacheWriteCost: request.CacheWriteTokens * inRate * write / Million * batch,
            CacheReadCost: request.CacheReadTokens * inRate * read / Million * batch,
            OutputCost: request.OutputTokens * outRate / Million * batch);
    }
}
