using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Fathom.KvCache;
using Fathom.Models;

namespace Fathom.Cli.Commands;

/// <summary>`fathom kv-estimate`: KV bytes per token, total KV, weights, scratch and expected peak RSS at a context.</summary>
internal static class KvEstimateCommand
{
    public static Command Create()
    {
        var model = CliModel.ModelOption();
        var context = new Option<int>("--ctx-size", "-c") { Description = "Context length to size for.", Required = true };
        var typeK = new Option<string>("--cache-type-k", "-ctk") { Description = "Key cache type: f32, f16, q8_0, q4_0.", DefaultValueFactory = _ => "f16" };
        var typeV = new Option<string>("--cache-type-v", "-ctv") { Description = "Value cache type: f32, f16, q8_0, q4_0.", DefaultValueFactory = _ => "f16" };
        var ubatch = new Option<int>("--ubatch", "-ub") { Description = "Prompt tokens per forward chunk.", DefaultValueFactory = _ => 512 };
        var json = new Option<bool>("--json") { Description = "One JSON object instead of text." };
        var policy = new Option<string>("--kv-policy") { Description = "KV policy NAME[:key=value…], as for run and bench.", DefaultValueFactory = _ => "full" };
        var budget = new Option<int?>("--budget") { Description = "The policy's token budget (default: the context)." };
        var page = new Option<int>("--kv-page") { Description = "Token slots per KV page (quest uses its own page).", DefaultValueFactory = _ => 64 };
        var command = new Command("kv-estimate", "Estimate KV cache size and peak memory of a model at a context length.")
        {
            model, context, typeK, typeV, ubatch, policy, budget, page, json,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            int ctx = parse.GetValue(context), ub = parse.GetValue(ubatch);
            if (ctx < 1 || ctx > 1 << 30)
                throw new CliUsageException($"--ctx-size {ctx} must be between 1 and {1 << 30}");
            if (ub < 1)
                throw new CliUsageException($"--ubatch {ub} must be at least 1");
            int pageSize = parse.GetValue(page), tokens = parse.GetValue(budget) ?? 0;
            if (pageSize < 1 || pageSize > 1 << 16)
                throw new CliUsageException($"--kv-page {pageSize} must be between 1 and 65536");
            if (tokens < 0)
                throw new CliUsageException($"--budget {tokens} must not be negative");
            var k = KvOptions.Type(parse.GetValue(typeK)!, "--cache-type-k");
            var v = KvOptions.Type(parse.GetValue(typeV)!, "--cache-type-v");
            using var m = Model.Load(CliModel.CheckModel(parse.GetValue(model)));
            KvEstimate e;
            try
            {
                e = KvEstimate.For(m, ctx, parse.GetValue(policy)!, tokens, k, v, ub, pageSize);
            }
            catch (ArgumentException ex)
            {
                throw new CliUsageException(ex.Message.Split(" (Parameter", StringSplitOptions.None)[0]);
            }
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["context"] = ctx,
                    ["type_k"] = KvTypes.Name(k),
                    ["type_v"] = KvTypes.Name(v),
                    ["kv_bytes_per_token"] = e.BytesPerToken,
                    ["k_bytes_per_token"] = e.KeyBytesPerToken,
                    ["v_bytes_per_token"] = e.ValueBytesPerToken,
                    ["kv_policy"] = parse.GetValue(policy)!,
                    ["kv_bytes"] = e.KvBytes,
                    ["policy_bytes"] = e.PolicyBytes,
                    ["steady_kv_bytes"] = e.SteadyKvBytes >= 0 ? e.SteadyKvBytes : e.KvBytes,
                    ["weight_bytes"] = e.WeightBytes,
                    ["scratch_bytes"] = e.ScratchBytes,
                    ["runtime_bytes"] = e.RuntimeBytes,
                    ["peak_rss_bytes"] = e.PeakRss,
                }));
            }
            else
            {
                static string MiB(long b) => (b / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
                var c = m.Config;
                stdout.WriteLine($"KV per token: {e.BytesPerToken} bytes (K {KvTypes.Name(k)} {e.KeyBytesPerToken} + V {KvTypes.Name(v)} {e.ValueBytesPerToken}; {c.BlockCount} layers × {c.HeadCountKv} kv heads × {c.KeyLength}/{c.ValueLength})");
                stdout.WriteLine($"KV at {ctx} tokens: {MiB(e.KvBytes)}");
                if (e.PolicyBytes > 0)
                    stdout.WriteLine($"policy state ({parse.GetValue(policy)}): {MiB(e.PolicyBytes)}");
                if (e.SteadyKvBytes >= 0)
                    stdout.WriteLine($"KV once {parse.GetValue(policy)} has evicted to its budget: {MiB(e.SteadyKvBytes)} (the prefill holds the whole prompt)");
                stdout.WriteLine($"weights: {MiB(e.WeightBytes)}");
                stdout.WriteLine($"scratch (ubatch {ub}): {MiB(e.ScratchBytes)}");
                stdout.WriteLine($"runtime: {MiB(e.RuntimeBytes)}");
                stdout.WriteLine($"expected peak RSS: {MiB(e.PeakRss)}");
            }
            return CliHost.ExitOk;
        });
        return command;
    }
}
