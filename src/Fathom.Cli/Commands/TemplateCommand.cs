using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Fathom.Gguf;
using Fathom.Templates;

namespace Fathom.Cli.Commands;

/// <summary>`fathom template`: renders a chat template exactly as the model would be prompted.</summary>
internal static class TemplateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model: renders its tokenizer.chat_template, or the built-in fallback (named on stderr) when it has none." };
        var template = new Option<string?>("--template") { Description = "A Jinja chat template file to render instead of a model's." };
        var messages = new Option<string>("--messages")
        {
            Description = "JSON file: an array of messages, or an object with \"messages\" and optionally \"tools\", \"documents\" "
                + "(absent = undefined, null = None), \"kwargs\" (extra variables), \"add_generation_prompt\", \"bos_token\", \"eos_token\".",
            Required = true,
        };
        var generationPrompt = new Option<bool>("--add-generation-prompt") { Description = "Open an assistant turn at the end." };
        var bos = new Option<string?>("--bos-token") { Description = "bos_token (default: the model's BOS token text, else empty)." };
        var eos = new Option<string?>("--eos-token") { Description = "eos_token (default: the model's EOS token text, else empty)." };
        var now = new Option<string?>("--now") { Description = "Clock for strftime_now, ISO-8601 (e.g. 2026-01-15T10:30:00); default: the local time." };
        var toolsFile = new Option<string?>("--tools")
        {
            Description = "JSON file: the tool definitions, passed to the template as `tools` exactly as transformers does "
                + "(an array of {\"type\": \"function\", \"function\": {name, description, parameters}}, or null); "
                + "overrides \"tools\" in the --messages file.",
        };

        var command = new Command("template", "Render a chat template for a conversation and print it exactly, with nothing added.")
        {
            model, template, messages, generationPrompt, bos, eos, now, toolsFile,
        };
        command.SetAction(parse =>
        {
            string? modelPath = parse.GetValue(model);
            string? templatePath = parse.GetValue(template);
            if ((modelPath is null) == (templatePath is null))
                throw new CliUsageException("give exactly one of -m/--model or --template");

            ChatTemplateOptions options = ReadConversation(parse.GetValue(messages)!, out object? conversation);
            if (parse.GetValue(toolsFile) is { } toolsPath)
                options = options with { Tools = ReadTools(toolsPath) };
            ChatTemplate chat;
            string? modelBos = null, modelEos = null;
            if (modelPath is not null)
            {
                using GgufFile file = GgufFile.Open(modelPath);
                bool withTools = options.Tools is JsonElement { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0;
                ChatTemplateSelection selection = ChatTemplateFallbacks.Select(file, withTools);
                if (selection.IsFallback)
                    parse.InvocationConfiguration.Error.WriteLine($"fathom: {Path.GetFileName(modelPath)} has no chat template; using the built-in '{selection.Name}' template");
                chat = selection.Template;
                (modelBos, modelEos) = SpecialTokens(file);
            }
            else
                chat = ChatTemplate.Parse(File.ReadAllText(templatePath!));

            options = options with
            {
                AddGenerationPrompt = parse.GetValue(generationPrompt) || options.AddGenerationPrompt,
                BosToken = parse.GetValue(bos) ?? (options.BosToken.Length > 0 ? options.BosToken : modelBos ?? ""),
                EosToken = parse.GetValue(eos) ?? (options.EosToken.Length > 0 ? options.EosToken : modelEos ?? ""),
                Now = ParseNow(parse.GetValue(now)),
            };
            parse.InvocationConfiguration.Output.Write(chat.Render(conversation, options));
            parse.InvocationConfiguration.Output.Flush();
            return CliHost.ExitOk;
        });
        return command;
    }

    private static (string? Bos, string? Eos) SpecialTokens(GgufFile file)
    {
        string[]? tokens = file.GetArrayOrNull<string>(GgufKeys.Tokenizer.Tokens);
        string? Token(string key) => file.GetUInt32OrNull(key) is uint id && tokens is not null && id < tokens.Length ? tokens[id] : null;
        return (Token(GgufKeys.Tokenizer.BosId), Token(GgufKeys.Tokenizer.EosId));
    }

    private static DateTime? ParseNow(string? text)
    {
        if (text is null)
            return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset t))
            return t.DateTime;
        throw new CliUsageException($"--now: '{text}' is not an ISO-8601 date-time");
    }

    private static JsonElement ReadTools(string path)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new CliUsageException($"--tools {path}: not valid JSON ({ex.Message})");
        }
        if (root.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
            throw new CliUsageException($"--tools {path}: expected a JSON array of tool definitions (or null)");
        return root;
    }

    private static ChatTemplateOptions ReadConversation(string path, out object? messages)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new CliUsageException($"--messages {path}: not valid JSON ({ex.Message})");
        }
        if (root.ValueKind == JsonValueKind.Array)
        {
            messages = root;
            return new ChatTemplateOptions();
        }
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out JsonElement list) || list.ValueKind != JsonValueKind.Array)
            throw new CliUsageException($"--messages {path}: expected a JSON array of messages or an object with a \"messages\" array");
        messages = list;
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (root.TryGetProperty("kwargs", out JsonElement kwargs) && kwargs.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in kwargs.EnumerateObject())
                variables[p.Name] = p.Value;
        }
        return new ChatTemplateOptions
        {
            Tools = root.TryGetProperty("tools", out JsonElement tools) ? tools : ChatTemplate.Undefined,
            Documents = root.TryGetProperty("documents", out JsonElement docs) ? docs : ChatTemplate.Undefined,
            Variables = variables,
            AddGenerationPrompt = root.TryGetProperty("add_generation_prompt", out JsonElement g) && g.ValueKind == JsonValueKind.True,
            BosToken = root.TryGetProperty("bos_token", out JsonElement b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "",
            EosToken = root.TryGetProperty("eos_token", out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "",
        };
    }
}
