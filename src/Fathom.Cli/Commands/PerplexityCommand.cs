using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Fathom.Evaluation;
using Fathom.Models;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>`fathom perplexity`: llama-perplexity's score of a text file (chunks of -c tokens, second halves scored).</summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var model = CliModel.ModelOption();
        var file = new Option<FileInfo>("--file", "-f") { Description = "Text to score (UTF-8, read as bytes like llama-perplexity).", Required = true };
        var context = new Option<int>("--ctx-size", "-c") { Description = "Tokens per chunk; each chunk scores its second half.", DefaultValueFactory = _ => 512 };
        var batch = new Option<int>("--batch-size", "-b") { Description = "Tokens per forward call (a chunk longer than this runs in several).", DefaultValueFactory = _ => 2048 };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var chunks = new Option<int?>("--chunks") { Description = "Score at most this many chunks (default: all)." };
        var saveLogits = new Option<FileInfo?>("--save-logits") { Description = "Save every scored position's log-probabilities as the base of a later --kl-base run." };
        var klBase = new Option<FileInfo?>("--kl-base") { Description = "Compare with a base run saved by --save-logits: KL divergence, same top-1 %, both PPLs." };
        var command = new Command("perplexity", "Perplexity of a text file, computed as llama-perplexity does; prints \"Final estimate: PPL = x +/- y\".")
        {
            model, file, context, batch, threads, chunks, saveLogits, klBase,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            int ctx = parse.GetValue(context), b = parse.GetValue(batch), t = parse.GetValue(threads);
            int? maxChunks = parse.GetValue(chunks);
            CliModel.CheckThreads(t);
            if (ctx < 4)
                throw new CliUsageException($"--ctx-size {ctx} must be at least 4");
            if (b < 1)
                throw new CliUsageException($"--batch-size {b} must be at least 1");
            if (maxChunks is < 1)
                throw new CliUsageException($"--chunks {maxChunks} must be at least 1");
            var textFile = parse.GetValue(file)!;
            if (!textFile.Exists)
                throw new CliUsageException($"text file '{textFile.FullName}' not found");
            byte[] text = File.ReadAllBytes(textFile.FullName);

            using var m = Model.Load(CliModel.CheckModel(parse.GetValue(model)));
            var tokenizer = Tokenizer.FromGguf(m.File);
            int[] tokens = Perplexity.Tokenize(tokenizer, text);
            if (tokens.Length < 2L * ctx)
                throw new CliUsageException($"'{textFile.Name}' is {tokens.Length} tokens; a context of {ctx} needs at least {2L * ctx}");
            if (ctx > m.Config.ContextLength)
                stderr.WriteLine($"fathom: note: a context of {ctx} is beyond the model's trained context of {m.Config.ContextLength}");

            var options = new PerplexityOptions { ContextLength = ctx, BatchSize = b, Threads = t, MaxChunks = maxChunks ?? 0 };
            int total = options.MaxChunks > 0 ? Math.Min(tokens.Length / ctx, options.MaxChunks) : tokens.Length / ctx;
            stderr.WriteLine($"perplexity: {tokens.Length} tokens, {total} chunks of {ctx}, batch {Math.Min(b, ctx)}, {t} threads");
            bool interactive = !Console.IsErrorRedirected && ReferenceEquals(stderr, Console.Error);
            var clock = Stopwatch.StartNew();
            Action<PerplexityProgress>? progress = interactive
                ? p => stderr.Write(Invariant($"\r[{p.Chunk}/{p.Chunks}] PPL = {p.Perplexity:F4}  {p.Chunk * (double)ctx / clock.Elapsed.TotalSeconds:F0} t/s   "))
                : null;
            var (result, kl) = KlModes.Run(m, tokens, Perplexity.ChunkBos(tokenizer), options, progress, parse.GetValue(saveLogits), parse.GetValue(klBase));
            double seconds = clock.Elapsed.TotalSeconds;
            if (interactive)
                stderr.WriteLine();
            stderr.WriteLine(Invariant($"perplexity: {result.Chunks * (long)ctx} tokens run, {result.ScoredTokens} scored, in {seconds:F2} s ({result.Chunks * (double)ctx / seconds:F1} t/s)"));
            stdout.WriteLine(Invariant($"Final estimate: PPL = {result.Value:F4} +/- {result.Uncertainty:F5}"));
            if (kl is not null)
                KlModes.Print(stdout, kl);
            return CliHost.ExitOk;
        });
        return command;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
