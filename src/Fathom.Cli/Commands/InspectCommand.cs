using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Fathom.Gguf;
using Spectre.Console;

namespace Fathom.Cli.Commands;

/// <summary>`fathom inspect MODEL.gguf [--json]`: what a GGUF file holds, without loading the weights.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The GGUF file to describe." };
        var json = new Option<bool>("--json") { Description = "Print a JSON document (schema fathom.inspect/1, see docs/CLI.md) instead of text." };
        var command = new Command("inspect", "Describe a GGUF model: architecture, hyperparameters, tokenizer, tensors, size.")
        {
            model,
            json,
        };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(json), parse.InvocationConfiguration.Output));
        return command;
    }

    internal static int Run(string path, bool json, TextWriter output)
    {
        InspectReport report;
        using (var file = GgufFile.Open(path))
            report = InspectReport.From(file);
        if (json)
            output.WriteLine(InspectJsonContext.Serialize(report));
        else if (Terminal.IsInteractive(output))
            WriteRich(report, Terminal.Rich(output));
        else
            WritePlain(report, output);
        return CliHost.ExitOk;
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private static string Value(JsonNode? node) => node switch
    {
        null => "null",
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonArray a => $"[{a.Count} items]",
        _ => node.ToJsonString(),
    };

    private static List<(string Label, string Value)> Summary(InspectReport r)
    {
        var rows = new List<(string, string)>
        {
            ("file", r.File),
            ("size", $"{N(r.FileSize)} bytes ({r.FileSize / 1048576.0:F2} MiB)"),
            ("gguf", $"version {r.GgufVersion}, alignment {r.Alignment}, {r.MetadataCount} metadata keys, {r.TensorCount} tensors"),
            ("architecture", r.Architecture ?? "(none)"),
        };
        if (r.Name is not null)
            rows.Add(("name", r.Name));
        if (r.FileType is { } ft)
            rows.Add(("file type", ft.ToString(CultureInfo.InvariantCulture)));
        rows.Add(("parameters", N(r.ParameterCount)));
        rows.Add(("tensor bytes", N(r.TensorBytes)));
        rows.Add(("bits per weight", r.BitsPerWeight is { } bpw ? bpw.ToString("F2", CultureInfo.InvariantCulture) : "-"));
        rows.Add(("tensor types", r.TensorTypes.Count == 0 ? "-" : string.Join(", ", r.TensorTypes.Select(kv => $"{kv.Key} {kv.Value}"))));
        return rows;
    }

    private static List<(string Label, string Value)> TokenizerRows(TokenizerSummary t)
    {
        var rows = new List<(string, string)>
        {
            ("model", t.Model ?? "(none)"),
            ("pre-tokenizer", t.Pre ?? "(none)"),
            ("vocab size", t.VocabSize is { } v ? N(v) : "-"),
        };
        if (t.MergeCount is { } m)
            rows.Add(("merges", N(m)));
        if (t.AddBos is { } bos)
            rows.Add(("add bos", bos ? "true" : "false"));
        if (t.AddEos is { } eos)
            rows.Add(("add eos", eos ? "true" : "false"));
        foreach (var s in t.SpecialTokens)
            rows.Add((s.Role, s.Text is null ? $"{s.Id} (out of range)" : $"{s.Id} {Printable(s.Text)}"));
        string named = t.NamedChatTemplates.Count > 0 ? $" (+ {string.Join(", ", t.NamedChatTemplates)})" : "";
        rows.Add(("chat template", (t.ChatTemplate ? "yes" : "no") + named));
        return rows;
    }

    /// <summary>Token text with control characters made visible, so one token stays on one line.</summary>
    private static string Printable(string text)
    {
        var sb = new System.Text.StringBuilder(text.Length + 2);
        sb.Append('"');
        foreach (char c in text)
        {
            if (char.IsControl(c))
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else
                sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    private static void WritePlain(InspectReport r, TextWriter o)
    {
        void Rows(IEnumerable<(string Label, string Value)> rows, string indent)
        {
            var list = rows.ToList();
            int width = list.Count == 0 ? 0 : list.Max(x => x.Label.Length);
            foreach (var (label, value) in list)
                o.WriteLine($"{indent}{label.PadRight(width)}  {value}");
        }

        Rows(Summary(r), "");
        if (r.Hyperparameters.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("hyperparameters");
            Rows(r.Hyperparameters.Select(kv => (kv.Key, Value(kv.Value))), "  ");
        }
        if (r.Tokenizer is { } t)
        {
            o.WriteLine();
            o.WriteLine("tokenizer");
            Rows(TokenizerRows(t), "  ");
        }
        if (r.Tensors.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("tensors");
            int nameWidth = Math.Max(4, r.Tensors.Max(x => x.Name.Length));
            int typeWidth = Math.Max(4, r.Tensors.Max(x => x.Type.Length));
            int shapeWidth = Math.Max(5, r.Tensors.Max(x => Shape(x.Shape).Length));
            o.WriteLine($"  {"name".PadRight(nameWidth)}  {"type".PadRight(typeWidth)}  {"shape".PadRight(shapeWidth)}  {"bytes",14}");
            foreach (var x in r.Tensors)
                o.WriteLine($"  {x.Name.PadRight(nameWidth)}  {x.Type.PadRight(typeWidth)}  {Shape(x.Shape).PadRight(shapeWidth)}  {N(x.Bytes),14}");
        }
    }

    private static void WriteRich(InspectReport r, IAnsiConsole console)
    {
        static Table KeyValues(string title, IEnumerable<(string Label, string Value)> rows)
        {
            var table = new Table().Border(TableBorder.Rounded).Title(title).AddColumn("").AddColumn("");
            table.ShowHeaders = false;
            foreach (var (label, value) in rows)
                table.AddRow(new Text(label, new Style(Color.Grey)), new Text(value));
            return table;
        }

        console.Write(KeyValues(Path.GetFileName(r.File), Summary(r)));
        if (r.Hyperparameters.Count > 0)
            console.Write(KeyValues("hyperparameters", r.Hyperparameters.Select(kv => (kv.Key, Value(kv.Value)))));
        if (r.Tokenizer is { } t)
            console.Write(KeyValues("tokenizer", TokenizerRows(t)));
        if (r.Tensors.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title("tensors")
                .AddColumn("name").AddColumn("type").AddColumn("shape").AddColumn(new TableColumn("bytes").RightAligned());
            foreach (var x in r.Tensors)
                table.AddRow(new Text(x.Name), new Text(x.Type), new Text(Shape(x.Shape)), new Text(N(x.Bytes)));
            console.Write(table);
        }
    }
}
