using System.CommandLine;
using System.Globalization;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>`fathom detokenize`: token ids back to text, as llama.cpp's llama_detokenize writes it.</summary>
internal static class DetokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model (or vocab-only GGUF) whose tokenizer to use", Required = true };
        var ids = new Argument<string[]>("IDS") { Description = "Token ids (separated by spaces or commas)", Arity = ArgumentArity.OneOrMore };

        var command = new Command("detokenize", "Turn token ids back into text with the model's tokenizer.") { model, ids };
        command.SetAction(parse =>
        {
            var tokens = new List<int>();
            foreach (string arg in parse.GetRequiredValue(ids))
            {
                foreach (string part in arg.Split([' ', ',', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                        throw new CliUsageException($"'{part}' is not a token id (a non-negative integer)");
                    tokens.Add(id);
                }
            }
            var tokenizer = TokenizeCommand.Load(parse.GetRequiredValue(model));
            byte[] text;
            try
            {
                text = tokenizer.DecodeToUtf8([.. tokens]);
            }
            catch (TokenizerException ex)
            {
                throw new CliUsageException(ex.Message);
            }
            var output = parse.InvocationConfiguration.Output;
            output.Write(System.Text.Encoding.UTF8.GetString(text));
            output.Flush();
            return CliHost.ExitOk;
        });
        return command;
    }
}
