using System.CommandLine;
using System.Runtime.InteropServices;
using Fathom.Models;

namespace Fathom.Cli.Commands;

/// <summary>`fathom logits`: the logits of every position of a token sequence, as raw float32 rows, for diffing.</summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = CliModel.ModelOption();
        var tokens = new Option<string>("--tokens") { Description = "Token ids, e.g. 1,2,3 (commas or spaces).", Required = true };
        var output = new Option<FileInfo>("--out", "-o") { Description = "Output file: float32 little-endian, one row of n_vocab per token.", Required = true };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var batch = new Option<int>("--batch", "-b") { Description = "Tokens per forward call (the prompt is split into batches of this size).", DefaultValueFactory = _ => 512 };
        var command = new Command("logits", "Write the logits after each token of a sequence (row r = logits after token r) as float32.")
        {
            model, tokens, output, threads, batch,
        };
        command.SetAction(parse =>
        {
            int t = parse.GetValue(threads), b = parse.GetValue(batch);
            CliModel.CheckThreads(t);
            if (b < 1)
                throw new CliUsageException($"--batch {b} must be at least 1");
            using var m = Model.Load(CliModel.CheckModel(parse.GetValue(model)));
            int[] ids = CliModel.ParseTokens(parse.GetValue(tokens)!, m.Config.VocabSize);
            using var session = m.CreateSession(ids.Length, t);
            var outFile = parse.GetValue(output)!;
            using var stream = new FileStream(outFile.FullName, FileMode.Create, FileAccess.Write);
            for (int i = 0; i < ids.Length; i += b)
            {
                var rows = session.Forward(ids.AsSpan(i, Math.Min(b, ids.Length - i)), allLogits: true);
                stream.Write(MemoryMarshal.AsBytes(rows));
            }
            parse.InvocationConfiguration.Output.WriteLine($"{ids.Length} rows × {m.Config.VocabSize} logits → {outFile.FullName}");
            return CliHost.ExitOk;
        });
        return command;
    }
}
