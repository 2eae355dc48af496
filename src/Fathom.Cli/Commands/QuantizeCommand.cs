using System.CommandLine;
using Fathom.Gguf;
using Fathom.Tensors.Quants;

namespace Fathom.Cli.Commands;

/// <summary>`fathom quantize IN.gguf OUT.gguf --type T [--pure]`: llama-quantize's rules and bytes (no importance matrix).</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "GGUF model to read (F32, F16 or BF16 weights)." };
        var output = new Argument<string>("output") { Description = "GGUF file to write." };
        var type = new Option<string>("--type", "-t")
        {
            Description = "File type: " + string.Join(", ", QuantRecipe.TypeNames) + ". Mixed recipes (q4_k_m, …) pick per-tensor types as llama.cpp does.",
            Required = true,
        };
        var pure = new Option<bool>("--pure") { Description = "Give every quantizable tensor the base type (no mixed recipe, output.weight included)." };
        var requantize = new Option<bool>("--allow-requantize") { Description = "Allow reading already-quantized tensors (quality is lost twice)." };
        var command = new Command("quantize", "Quantize a GGUF model's weights, byte-identical to llama-quantize without an imatrix.")
        {
            input, output, type, pure, requantize,
        };
        command.SetAction(parse =>
        {
            string typeName = parse.GetValue(type)!;
            if (!QuantRecipe.TryParse(typeName, out var ftype))
                throw new CliUsageException($"unknown --type '{typeName}'; expected one of {string.Join(", ", QuantRecipe.TypeNames)}");
            string inPath = parse.GetValue(input)!;
            string outPath = parse.GetValue(output)!;
            if (Path.GetFullPath(inPath) == Path.GetFullPath(outPath))
                throw new CliUsageException("input and output must be different files");
            var stdout = parse.InvocationConfiguration.Output;
            using var file = GgufFile.Open(inPath);
            var progress = new SyncProgress(p => stdout.WriteLine(
                $"{p.Source.Name,-40} {p.Source.ShapeText,-16} {GgmlTypeInfo.Name(p.Source.Type),5} -> {GgmlTypeInfo.Name(p.Target)}"));
            var plan = ModelQuantizer.Quantize(file, outPath, new ModelQuantizeOptions(ftype, parse.GetValue(pure), parse.GetValue(requantize)), progress);
            long bytes = new FileInfo(outPath).Length;
            stdout.WriteLine($"wrote {outPath}: {plan.Count} tensors, {bytes:N0} bytes ({ftype})");
            return CliHost.ExitOk;
        });
        return command;
    }

    private sealed class SyncProgress(Action<TensorQuantPlan> report) : IProgress<TensorQuantPlan>
    {
        public void Report(TensorQuantPlan value) => report(value);
    }
}
