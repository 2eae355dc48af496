using Fathom.Gguf;

namespace Fathom.Templates;

/// <summary>The template a model will be prompted with, and whether it is a built-in fallback (the GGUF had none).</summary>
public sealed record ChatTemplateSelection(ChatTemplate Template, string Name, bool IsFallback);

/// <summary>
/// Built-in chat templates for GGUFs that carry no <c>tokenizer.chat_template</c>, chosen from the architecture and the
/// special tokens of the vocabulary (the tokens a format needs must exist, or the model never saw that format).
/// </summary>
public static class ChatTemplateFallbacks
{
    public const string ChatMl = "chatml";
    public const string Llama2 = "llama2";
    public const string Llama3 = "llama3";
    public const string Mistral = "mistral";
    public const string Gemma = "gemma";
    public const string Phi3 = "phi3";

    public static IReadOnlyList<string> Names { get; } = [ChatMl, Llama2, Llama3, Mistral, Gemma, Phi3];

    // Message content may be a string or a list of {type: text, text} parts.
    private const string TextMacro =
        "{%- macro text(content) -%}" +
        "{%- if content is string -%}{{ content }}" +
        "{%- elif content is iterable and content is not mapping -%}" +
        "{%- for part in content -%}{%- if part is string -%}{{ part }}{%- elif part is mapping and part.type == 'text' -%}{{ part.text }}{%- endif -%}{%- endfor -%}" +
        "{%- elif content is defined and content is not none -%}{{ content }}" +
        "{%- endif -%}" +
        "{%- endmacro -%}\n";

    // Formats without a system role fold the system prompt into the first user turn.
    private const string SplitSystem =
        "{%- if messages and messages[0].role == 'system' -%}" +
        "{%- set system = text(messages[0].content) -%}{%- set loop_messages = messages[1:] -%}" +
        "{%- else -%}{%- set system = '' -%}{%- set loop_messages = messages -%}{%- endif -%}\n";

    private static readonly Dictionary<string, string> Sources = new(StringComparer.Ordinal)
    {
        [ChatMl] = TextMacro +
            "{%- for message in messages -%}" +
            "{{- '<|im_start|>' + message.role + '\\n' + text(message.content) + '<|im_end|>\\n' -}}" +
            "{%- endfor -%}" +
            "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
        [Llama2] = TextMacro + SplitSystem +
            "{%- for message in loop_messages -%}" +
            "{%- set content = text(message.content) -%}" +
            "{%- if loop.first and system -%}{%- set content = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + content -%}{%- endif -%}" +
            "{%- if message.role == 'user' -%}{{- bos_token + '[INST] ' + content | trim + ' [/INST]' -}}" +
            "{%- elif message.role == 'assistant' -%}{{- ' ' + content | trim + ' ' + eos_token -}}" +
            "{%- endif -%}" +
            "{%- endfor -%}",
        [Llama3] = TextMacro +
            "{{- bos_token -}}" +
            "{%- for message in messages -%}" +
            "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + text(message.content) | trim + '<|eot_id|>' -}}" +
            "{%- endfor -%}" +
            "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}",
        [Mistral] = TextMacro + SplitSystem +
            "{{- bos_token -}}" +
            "{%- for message in loop_messages -%}" +
            "{%- set content = text(message.content) -%}" +
            "{%- if message.role == 'user' -%}" +
            "{%- if loop.first and system -%}{%- set content = system + '\\n\\n' + content -%}{%- endif -%}" +
            "{{- '[INST] ' + content + ' [/INST]' -}}" +
            "{%- elif message.role == 'assistant' -%}{{- content + eos_token -}}" +
            "{%- endif -%}" +
            "{%- endfor -%}",
        [Gemma] = TextMacro + SplitSystem +
            "{{- bos_token -}}" +
            "{%- for message in loop_messages -%}" +
            "{%- set role = 'model' if message.role == 'assistant' else message.role -%}" +
            "{%- set content = text(message.content) | trim -%}" +
            "{%- if loop.first and system -%}{%- set content = system | trim + '\\n\\n' + content -%}{%- endif -%}" +
            "{{- '<start_of_turn>' + role + '\\n' + content + '<end_of_turn>\\n' -}}" +
            "{%- endfor -%}" +
            "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}",
        [Phi3] = TextMacro +
            "{{- bos_token -}}" +
            "{%- for message in messages -%}" +
            "{{- '<|' + message.role + '|>\\n' + text(message.content) + '<|end|>\\n' -}}" +
            "{%- endfor -%}" +
            "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}",
    };

    private static readonly Dictionary<string, ChatTemplate> Parsed = new(StringComparer.Ordinal);

    /// <summary>The Jinja source of a built-in template.</summary>
    public static string Source(string name) => Sources.TryGetValue(name, out string? s)
        ? s
        : throw new ArgumentException($"unknown fallback chat template '{name}' (known: {string.Join(", ", Names)})", nameof(name));

    public static ChatTemplate Get(string name)
    {
        lock (Parsed)
        {
            if (!Parsed.TryGetValue(name, out ChatTemplate? t))
                Parsed[name] = t = ChatTemplate.Parse(Source(name));
            return t;
        }
    }

    /// <summary>
    /// Picks the fallback for a model: the chat format whose special tokens its vocabulary has, else by architecture
    /// (gemma*, phi3), else Llama-2/Mistral for SentencePiece llama models, else ChatML.
    /// </summary>
    public static string Choose(string? architecture, IReadOnlyCollection<string>? tokens, string? tokenizerModel = null, string? modelName = null)
    {
        var vocab = tokens as IReadOnlySet<string> ?? (tokens is null ? new HashSet<string>() : new HashSet<string>(tokens, StringComparer.Ordinal));
        string arch = architecture?.ToLowerInvariant() ?? "";
        if (vocab.Contains("<|im_start|>") && vocab.Contains("<|im_end|>"))
            return ChatMl;
        if (vocab.Contains("<|start_header_id|>") && vocab.Contains("<|eot_id|>"))
            return Llama3;
        if (vocab.Contains("<start_of_turn>") || arch.StartsWith("gemma", StringComparison.Ordinal))
            return Gemma;
        if ((vocab.Contains("<|assistant|>") && vocab.Contains("<|end|>")) || arch is "phi3" or "phimoe")
            return Phi3;
        if (vocab.Contains("[INST]") || arch is "mistral" or "mistral3" || (modelName?.Contains("mistral", StringComparison.OrdinalIgnoreCase) ?? false))
            return Mistral;
        if (arch == "llama" && tokenizerModel == "llama")
            return Llama2;
        return ChatMl;
    }

    /// <summary>The GGUF's own template when it has one, else the chosen fallback (<see cref="ChatTemplateSelection.IsFallback"/> set).</summary>
    public static ChatTemplateSelection Select(GgufFile file) => Select(file, withTools: false);

    /// <summary>
    /// As <see cref="Select(GgufFile)"/>; with tools, a <c>tokenizer.chat_template.tool_use</c> template wins over the default
    /// one, as transformers picks the "tool_use" entry of a named-template set when tools are passed.
    /// </summary>
    public static ChatTemplateSelection Select(GgufFile file, bool withTools)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (withTools && file.GetStringOrNull(GgufKeys.Tokenizer.NamedChatTemplate("tool_use")) is { Length: > 0 } toolUse)
            return new ChatTemplateSelection(ChatTemplate.Parse(toolUse), "gguf:tool_use", false);
        if (file.GetStringOrNull(GgufKeys.Tokenizer.ChatTemplate) is { Length: > 0 } source)
            return new ChatTemplateSelection(ChatTemplate.Parse(source), "gguf", false);
        string name = Choose(
            file.GetStringOrNull(GgufKeys.General.Architecture),
            file.GetArrayOrNull<string>(GgufKeys.Tokenizer.Tokens),
            file.GetStringOrNull(GgufKeys.Tokenizer.Model),
            file.GetStringOrNull(GgufKeys.General.Name));
        return new ChatTemplateSelection(Get(name), name, true);
    }
}
