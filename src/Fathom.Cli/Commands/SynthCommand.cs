using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Fathom.Gguf;
using Fathom.Gguf.Synth;
using Spectre.Console;

namespace Fathom.Cli.Commands;

/// <summary>`fathom synth`: writes a random-weight model of any shape, for tests and benchmarks.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: llama, qwen2 or qwen3 (qwen3 with --experts writes qwen3moe).", Required = true };
        var layers = new Option<int>("--layers") { Description = "Number of transformer blocks.", Required = true };
        var embd = new Option<int>("--embd") { Description = "Embedding width (n_embd).", Required = true };
        var heads = new Option<int>("--heads") { Description = "Query heads.", Required = true };
        var kvHeads = new Option<int>("--kv-heads") { Description = "Key/value heads (GQA when fewer than --heads).", Required = true };
        var ff = new Option<int>("--ff") { Description = "Feed-forward width (per expert for a llama MoE).", Required = true };
        var experts = new Option<int>("--experts") { Description = "Experts per MoE layer (omit for a dense model)." };
        var expertsUsed = new Option<int>("--experts-used") { Description = "Experts used per token." };
        var expertFf = new Option<int?>("--expert-ff") { Description = "Per-expert feed-forward width for qwen3moe (default: --ff)." };
        var headDim = new Option<int?>("--head-dim") { Description = "Per-head width (default: --embd / --heads)." };
        var context = new Option<int>("--context") { Description = "context_length to record.", DefaultValueFactory = _ => 4096 };
        var vocab = new Option<string>("--vocab-from") { Description = "A GGUF whose tokenizer.* metadata is copied (e.g. a vocab-only file).", Required = true };
        var type = new Option<string>("--type") { Description = "Element type of the matrices: f32 or f16.", DefaultValueFactory = _ => "f16" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed; the same seed and shape give the same file.", DefaultValueFactory = _ => 42 };
        var output = new Option<string>("--output", "-o") { Description = "The GGUF file to write.", Required = true };

        var command = new Command("synth", "Write a random-weight model of any shape (weights ~ N(0, 1/fan_in), norms ~ 1 + N(0, 0.05²)).")
        {
            arch, layers, embd, heads, kvHeads, ff, experts, expertsUsed, expertFf, headDim, context, vocab, type, seed, output,
        };
        command.SetAction((parse, ct) =>
        {
            string typeName = parse.GetValue(type)!;
            if (!GgmlTypeInfo.TryParse(typeName, out var ggmlType))
                throw new CliUsageException($"unknown --type '{typeName}' (expected f32 or f16)");
            var options = new SynthOptions
            {
                Architecture = parse.GetValue(arch)!.ToLowerInvariant(),
                Layers = parse.GetValue(layers),
                Embedding = parse.GetValue(embd),
                Heads = parse.GetValue(heads),
                KvHeads = parse.GetValue(kvHeads),
                FeedForward = parse.GetValue(ff),
                Experts = parse.GetValue(experts),
                ExpertsUsed = parse.GetValue(expertsUsed),
                ExpertFeedForward = parse.GetValue(expertFf),
                HeadDim = parse.GetValue(headDim),
                ContextLength = parse.GetValue(context),
                Type = ggmlType,
                Seed = parse.GetValue(seed),
            };
            return Task.FromResult(Run(options, parse.GetValue(vocab)!, parse.GetValue(output)!, parse.InvocationConfiguration.Output, ct));
        });
        return command;
    }

    internal static int Run(SynthOptions options, string vocabPath, string outputPath, TextWriter output, CancellationToken cancellationToken)
    {
        try
        {
            ModelSynthesizer.Validate(options);
        }
        catch (ArgumentException ex)
        {
            throw new CliUsageException(ex.Message);
        }

        using var vocab = GgufFile.Open(vocabPath);
        GgufWriter writer;
        try
        {
            writer = ModelSynthesizer.CreateWriter(options, vocab);
        }
        catch (ArgumentException ex)
        {
            throw new CliUsageException(ex.Message);
        }
        long total = writer.ComputeFileSize();
        var clock = Stopwatch.StartNew();
        string temp = outputPath + ".partial";
        try
        {
            if (Terminal.IsInteractive(output))
            {
                Terminal.Rich(output).Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(Path.GetFileName(outputPath), maxValue: total);
                        writer.WriteTo(temp, new InlineProgress(v => task.Value = v), cancellationToken);
                    });
            }
            else
            {
                writer.WriteTo(temp, null, cancellationToken);
            }
            File.Move(temp, outputPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
        clock.Stop();

        using var written = GgufFile.Open(outputPath);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outputPath}: {written.GetString(GgufKeys.General.Architecture)}, {written.Tensors.Count} tensors, {written.ParameterCount:N0} parameters, {written.FileSize:N0} bytes in {clock.Elapsed.TotalSeconds:F1} s"));
        return CliHost.ExitOk;
    }

    /// <summary>Reports on the writing thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class InlineProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
