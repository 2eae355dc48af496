using System.CommandLine;
using System.Globalization;
using Fathom.Cost;

namespace Fathom.Cli.Commands;

/// <summary>`fathom cost`: what a request would cost on a hosted model, from a versioned price table.</summary>
internal static class CostCommand
{
    public static Command Create()
    {
        var input = new Option<long>("--input") { Description = "Uncached input tokens (required)." };
        var output = new Option<long>("--output") { Description = "Output tokens (required)." };
        var cacheWrite = new Option<long>("--cache-write") { Description = "Input tokens written to the prompt cache." };
        var cacheTtl = new Option<string>("--cache-ttl") { Description = "Cache lifetime of the write: 5m (×1.25) or 1h (×2).", DefaultValueFactory = _ => "5m" };
        var cacheRead = new Option<long>("--cache-read") { Description = "Input tokens read from the prompt cache (×0.1)." };
        var batch = new Option<bool>("--batch") { Description = "Batch request (50% off every component)." };
        var model = new Option<string>("--model") { Description = "Model name or alias in the price table (default: the table's default model)." };
        var table = new Option<FileInfo>("--price-table") { Description = "JSON price table whose models and multipliers override the shipped table." };
        var list = new Option<bool>("--list") { Description = "List the table's models and prices instead." };
        var command = new Command("cost", "Estimate a request's cost on a hosted model: long-context tier, prompt-cache and batch rules, exact decimals.")
        {
            input, output, cacheWrite, cacheTtl, cacheRead, batch, model, table, list,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            try
            {
                var prices = PriceTable.Default;
                if (parse.GetValue(table) is { } file)
                {
                    if (!file.Exists)
                        throw new CliUsageException($"price table '{file.FullName}' not found");
                    prices = prices.OverrideWith(PriceTable.Load(file.FullName));
                }
                if (parse.GetValue(list))
                {
                    stdout.WriteLine($"price table {prices.Version} ({prices.Date}), {prices.Currency} per million tokens");
                    foreach (var m in prices.Models)
                    {
                        string tier = m.LongContext is { } t ? $"  > {t.ThresholdTokens:N0} input: {Money(t.InputPerMTok)} / {Money(t.OutputPerMTok)}" : "";
                        stdout.WriteLine($"  {m.Name,-22} input {Money(m.InputPerMTok),8}  output {Money(m.OutputPerMTok),8}{tier}");
                    }
                    return CliHost.ExitOk;
                }
                if (parse.GetResult(input) is null || parse.GetResult(output) is null)
                    throw new CliUsageException("--input and --output are required");
                var ttl = parse.GetValue(cacheTtl) switch
                {
                    "5m" => CacheTtl.FiveMinutes,
                    "1h" => CacheTtl.OneHour,
                    var v => throw new CliUsageException($"--cache-ttl '{v}' is not 5m or 1h"),
                };
                var request = new CostRequest(Count(parse.GetValue(input), "--input"), Count(parse.GetValue(output), "--output"),
                    Count(parse.GetValue(cacheWrite), "--cache-write"), ttl, Count(parse.GetValue(cacheRead), "--cache-read"), parse.GetValue(batch));
                var e = CostEstimator.Estimate(prices, parse.GetValue(model), request);
                stdout.WriteLine($"model {e.Model} (price table {e.TableVersion}), {e.Currency}");
                stdout.WriteLine(e.LongContext
                    ? $"long-context tier: {e.TierInputTokens:N0} input tokens (input + cache write + cache read) exceed the threshold; all tokens at the higher rates"
                    : $"standard tier: {e.TierInputTokens:N0} input tokens (input + cache write + cache read)");
                stdout.WriteLine($"  input        {request.InputTokens,12:N0} × {Money(e.InputPerMTok)}/MTok{BatchNote(e)} = {Money(e.InputCost)}");
                if (request.CacheWriteTokens > 0)
                    stdout.WriteLine($"  cache write  {request.CacheWriteTokens,12:N0} × {Money(e.InputPerMTok)}/MTok × {e.CacheWriteMultiplier}{BatchNote(e)} = {Money(e.CacheWriteCost)}");
                if (request.CacheReadTokens > 0)
                    stdout.WriteLine($"  cache read   {request.CacheReadTokens,12:N0} × {Money(e.InputPerMTok)}/MTok × {e.CacheReadMultiplier}{BatchNote(e)} = {Money(e.CacheReadCost)}");
                stdout.WriteLine($"  output       {request.OutputTokens,12:N0} × {Money(e.OutputPerMTok)}/MTok{BatchNote(e)} = {Money(e.OutputCost)}");
                stdout.WriteLine($"total {Money(e.Total)}");
                return CliHost.ExitOk;
            }
            catch (PriceTableException ex)
            {
                throw new CliUsageException(ex.Message);
            }
        });
        return command;
    }

    private static long Count(long value, string option) =>
        value >= 0 ? value : throw new CliUsageException($"{option} {value} must not be negative");

    private static string BatchNote(CostEstimate e) => e.BatchMultiplier == 1m ? "" : $" × {e.BatchMultiplier} (batch)";

    /// <summary>Exact decimal, trailing zeros dropped, at least two decimals.</summary>
    private static string Money(decimal value)
    {
        string s = value.ToString("0.00############################", CultureInfo.InvariantCulture);
        return "$" + s;
    }
}
