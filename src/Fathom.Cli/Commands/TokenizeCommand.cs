using System.CommandLine;
using System.Globalization;
using System.Text;
using Fathom.Gguf;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>`fathom tokenize`: text to token ids with the model's own tokenizer, as llama.cpp tokenizes it.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model (or vocab-only GGUF) whose tokenizer to use", Required = true };
        var ids = new Option<bool>("--ids") { Description = "Print only the ids, separated by single spaces, on one line" };
        var noSpecial = new Option<bool>("--no-special") { Description = "Do not add BOS/EOS even when the model asks for them" };
        var noParseSpecial = new Option<bool>("--no-parse-special") { Description = "Treat special-token text such as <|im_start|> as plain text" };
        var file = new Option<string?>("--file") { Description = "Read the text from this file, byte for byte (no newline stripping)" };
        var text = new Argument<string?>("TEXT") { Description = "The text to tokenize", Arity = ArgumentArity.ZeroOrOne };

        var command = new Command("tokenize", "Turn text into token ids with the model's tokenizer.")
        {
            model, ids, noSpecial, noParseSpecial, file, text,
        };
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(file);
            string? literal = parse.GetValue(text);
            if ((path is null) == (literal is null))
                throw new CliUsageException("give either TEXT or --file PATH (exactly one)");
            byte[] input = path is not null ? File.ReadAllBytes(path) : Encoding.UTF8.GetBytes(literal!);
            var tokenizer = Load(parse.GetRequiredValue(model));
            int[] tokens;
            try
            {
                tokens = tokenizer.Encode(input, addSpecial: !parse.GetValue(noSpecial), parseSpecial: !parse.GetValue(noParseSpecial));
            }
            catch (TokenizerException ex)
            {
                throw new CliUsageException(ex.Message);
            }

            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(ids))
            {
                output.Write(string.Join(' ', tokens.Select(t => t.ToString(CultureInfo.InvariantCulture))));
                output.Write('\n');
            }
            else
            {
                foreach (int t in tokens)
                    output.Write($"{t.ToString(CultureInfo.InvariantCulture)}\t{Show(tokenizer.TokenToPiece(t))}\n");
            }
            return CliHost.ExitOk;
        });
        return command;
    }

    internal static Tokenizer Load(string path)
    {
        using var gguf = GgufFile.Open(path);
        try
        {
            return Tokenizer.FromGguf(gguf);
        }
        catch (TokenizerException ex)
        {
            throw new CliUsageException($"{path}: {ex.Message}");
        }
    }

    /// <summary>A piece quoted for a terminal: control characters and stray bytes escaped, the rest as UTF-8 text.</summary>
    private static string Show(byte[] piece)
    {
        var sb = new StringBuilder("'");
        int i = 0;
        while (i < piece.Length)
        {
            int len = piece[i] >= 0xF0 ? 4 : piece[i] >= 0xE0 ? 3 : piece[i] >= 0xC0 ? 2 : 1;
            if (len > 1 && i + len <= piece.Length && System.Text.Unicode.Utf8.IsValid(piece.AsSpan(i, len)))
            {
                sb.Append(Encoding.UTF8.GetString(piece, i, len));
                i += len;
                continue;
            }
            byte b = piece[i++];
            sb.Append(b switch
            {
                (byte)'\n' => "\\n",
                (byte)'\r' => "\\r",
                (byte)'\t' => "\\t",
                (byte)'\\' => "\\\\",
                (byte)'\'' => "\\'",
                < 0x20 or >= 0x7F => $"\\x{b:x2}",
                _ => ((char)b).ToString(),
            });
        }
        return sb.Append('\'').ToString();
    }
}
