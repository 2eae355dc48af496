using System.Text;
using System.Text.Json;
using Fathom.Tools;

namespace Fathom.Server.Anthropic;

/// <summary>A validated <c>/v1/messages</c> (or count_tokens) body, flattened for the backend.</summary>
internal sealed record AnthropicRequest(
    string Model,
    int MaxTokens,
    ChatPrompt Prompt,
    IReadOnlyList<string> StopSequences,
    bool Stream,
    GenerationSettings Settings)
{
    /// <summary>tool_choice (auto when absent).</summary>
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Default;

    public const string Version2023 = "2023-06-01";
    public const string Version2026 = "2026-10-21";

    /// <summary>Missing version is treated as 2023-06-01 so curl users need not send it.</summary>
    public static string ApiVersion(string? header) => header switch
    {
        null or "" => Version2023,
        Version2023 or Version2026 => header,
        _ => throw ApiException.Invalid($"anthropic-version: '{header}' is not a supported version (use {Version2023} or {Version2026})"),
    };

    public static AnthropicRequest Parse(JsonElement root, string version, bool countTokens)
    {
        var f = new JsonFields(root, "", anthropic: true);
        bool current = version == Version2026;
        string model = f.String("model", required: true)!;
        int maxTokens = countTokens ? 1 : (int)f.Integer("max_tokens", 1, int.MaxValue, required: true)!.Value;

        if (current)
        {
            foreach (string sampling in (ReadOnlySpan<string>)["temperature", "top_p", "top_k"])
            {
                if (root.TryGetProperty(sampling, out _))
                    throw f.Error(sampling, "Extra inputs are not permitted");
            }
        }
        double? temperature = countTokens ? null : f.Number("temperature", 0, 1);
        double? topP = countTokens ? null : f.Number("top_p", 0, 1);
        long? topK = countTokens ? null : f.Integer("top_k", 0, int.MaxValue);

        var stops = new List<string>();
        if (!countTokens && f.Array("stop_sequences") is { } stopArray)
        {
            int i = 0;
            foreach (var s in stopArray.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.String)
                    throw JsonFields.Fail($"stop_sequences.{i}", "Input should be a valid string", true);
                if (s.GetString()!.Length > 0)
                    stops.Add(s.GetString()!);
                i++;
            }
        }
        bool stream = !countTokens && (f.Bool("stream") ?? false);

        int breakpoints = f.Has("cache_control") ? 1 : 0;
        bool thinking = ParseThinking(f, maxTokens, countTokens);
        var tools = ToolRequests.Anthropic(f, ref breakpoints);
        var toolChoice = ToolRequests.AnthropicChoice(f, tools);
        if (thinking && toolChoice.Mode is ToolChoiceMode.Any or ToolChoiceMode.Tool)
            throw f.Error("tool_choice", "Thinking may not be enabled when tool_choice forces tool use.");

        var turns = new List<ChatTurn>();
        var system = f.Get("system");
        if (system is { } sys)
            turns.Add(new ChatTurn("system", SystemText(sys, "system", ref breakpoints)));

        var messages = f.Array("messages", required: true)!.Value;
        if (messages.GetArrayLength() == 0)
            throw f.Error("messages", "at least one message is required");
        if (messages.GetArrayLength() > 100_000)
            throw f.Error("messages", "at most 100000 messages are allowed");
        int index = 0;
        var openCalls = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var message in messages.EnumerateArray())
        {
            string path = $"messages.{index}";
            var m = f.Child(message, path);
            string role = m.String("role", required: true)!;
            if (role is not ("user" or "assistant" or "system"))
                throw m.Error("role", "Input should be 'user', 'assistant' or 'system'");
            var content = m.Required("content");
            if (role == "system")
            {
                string text = SystemText(content, $"{path}.content", ref breakpoints);
                // Consecutive same-role turns are merged, as the API does.
                if (turns.Count > 0 && turns[^1].Role == "system" && !(turns.Count == 1 && system is not null))
                    turns[^1] = turns[^1] with { Content = turns[^1].Content + "\n\n" + text };
                else
                    turns.Add(new ChatTurn("system", text));
            }
            else
            {
                var parsed = Content(content, $"{path}.content", role, current, ref breakpoints, openCalls);
                if (role == "assistant")
                {
                    openCalls.Clear();
                    foreach (var call in parsed.Calls)
                        openCalls[call.Id!] = call.Name;
                    var turn = new ChatTurn("assistant", parsed.Text) { ToolCalls = parsed.Calls.Count > 0 ? parsed.Calls : null };
                    if (turns.Count > 0 && turns[^1].Role == "assistant")
                        turns[^1] = Merge(turns[^1], turn);
                    else
                        turns.Add(turn);
                }
                else
                {
                    turns.AddRange(parsed.Results);
                    if (parsed.Results.Count == 0 || parsed.Text.Length > 0)
                    {
                        if (turns.Count > 0 && turns[^1].Role == "user")
                            turns[^1] = turns[^1] with { Content = turns[^1].Content + "\n\n" + parsed.Text };
                        else
                            turns.Add(new ChatTurn("user", parsed.Text));
                    }
                    openCalls.Clear();
                }
            }
            index++;
        }
        if (breakpoints > 4)
            throw ApiException.Invalid($"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}.");

        Fathom.Sampling.Grammar? grammar = null;
        if (f.Object("output_config") is { } oc && oc.Object("format") is { } format)
        {
            if (format.String("type", required: true) != "json_schema")
                throw format.Error("type", "Input should be 'json_schema'");
            var schema = format.Object("schema", required: true)!.Value;
            grammar = ToolRequests.ResponseGrammar(schema.Element, format.Path("schema"), strict: true, anthropic: true);
        }
        var settings = new GenerationSettings
        {
            // A grammar cannot follow a thinking block it does not see, so thinking turns it off.
            Grammar = thinking ? null : grammar,
            MaxTokens = maxTokens,
            Temperature = temperature is { } t ? (float)t : null,
            TopP = topP is { } p ? (float)p : null,
            TopK = topK is { } k ? (int)k : null,
            Thinking = thinking,
        };
        return new AnthropicRequest(model, maxTokens, new ChatPrompt(turns) { Tools = tools }, stops, stream, settings) { ToolChoice = toolChoice };
    }

    private static ChatTurn Merge(ChatTurn a, ChatTurn b) => a with
    {
        Content = a.Content.Length == 0 ? b.Content : b.Content.Length == 0 ? a.Content : a.Content + "\n\n" + b.Content,
        ToolCalls = a.ToolCalls is null ? b.ToolCalls : b.ToolCalls is null ? a.ToolCalls : [.. a.ToolCalls, .. b.ToolCalls],
    };

    private static bool ParseThinking(JsonFields f, int maxTokens, bool countTokens)
    {
        if (f.Object("thinking") is not { } t)
            return false;
        string type = t.String("type", required: true)!;
        switch (type)
        {
            case "disabled":
                return false;
            case "adaptive" or "between_tools":
                return true;
            case "enabled":
                long budget = t.Integer("budget_tokens", 1024, int.MaxValue, required: true)!.Value;
                if (!countTokens && budget >= maxTokens)
                    throw t.Error("budget_tokens", "`max_tokens` must be greater than `thinking.budget_tokens`");
                return true;
            default:
                throw t.Error("type", "Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'");
        }
    }

    private static string SystemText(JsonElement content, string path, ref int breakpoints)
    {
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw JsonFields.Fail(path, "Input should be a valid string or a list of text blocks", true);
        var sb = new StringBuilder();
        int i = 0;
        foreach (var block in content.EnumerateArray())
        {
            var b = new JsonFields(block, $"{path}.{i}", true);
            if (block.ValueKind != JsonValueKind.Object)
                throw JsonFields.Fail($"{path}.{i}", "Input should be a valid dictionary", true);
            string type = b.String("type", required: true)!;
            if (type != "text")
                throw b.Error("type", "Input should be 'text'");
            if (sb.Length > 0)
                sb.Append('\n');
            sb.Append(TextOf(b, ref breakpoints));
            i++;
        }
        return sb.ToString();
    }

    private static string TextOf(JsonFields b, ref int breakpoints)
    {
        string text = b.String("text", required: true)!;
        if (b.Has("cache_control"))
        {
            if (text.Length == 0)
                throw b.Error("cache_control", "cache_control cannot be set for empty text blocks");
            breakpoints++;
        }
        return text;
    }

    /// <summary>A message's content: its text, an assistant's tool_use calls, a user's tool_result turns.</summary>
    private sealed record ParsedContent(string Text, List<ToolCall> Calls, List<ChatTurn> Results);

    private static ParsedContent Content(JsonElement content, string path, string role, bool current, ref int breakpoints, Dictionary<string, string> openCalls)
    {
        var calls = new List<ToolCall>();
        var results = new List<ChatTurn>();
        if (content.ValueKind == JsonValueKind.String)
            return new ParsedContent(content.GetString()!, calls, results);
        if (content.ValueKind != JsonValueKind.Array)
            throw JsonFields.Fail(path, "Input should be a valid string or a list of content blocks", true);
        if (content.GetArrayLength() == 0)
            throw JsonFields.Fail(path, "content must not be an empty list", true);
        var sb = new StringBuilder();
        int i = 0;
        foreach (var block in content.EnumerateArray())
        {
            string bpath = $"{path}.{i}";
            if (block.ValueKind != JsonValueKind.Object)
                throw JsonFields.Fail(bpath, "Input should be a valid dictionary", true);
            var b = new JsonFields(block, bpath, true);
            string type = b.String("type", required: true)!;
            string? piece;
            switch (type)
            {
                case "text":
                    if (current && role == "user" && b.Get("citations") is { ValueKind: JsonValueKind.Array } c && c.GetArrayLength() > 0)
                        throw b.Error("citations", "citations are not allowed on text blocks in user messages");
                    piece = TextOf(b, ref breakpoints);
                    break;
                case "thinking" or "redacted_thinking":
                    if (role != "assistant")
                        throw b.Error("type", $"'{type}' blocks are only allowed in assistant messages");
                    if (b.Has("cache_control"))
                        throw b.Error("cache_control", $"cache_control cannot be set on '{type}' blocks");
                    piece = null; // earlier turns' thinking is not re-rendered
                    break;
                case "tool_use":
                    if (role != "assistant")
                        throw b.Error("type", "'tool_use' blocks are only allowed in assistant messages");
                    string name = b.String("name", required: true)!;
                    string id = b.String("id", required: true)!;
                    var input = b.Object("input", required: true)!.Value;
                    if (b.Has("cache_control"))
                        breakpoints++;
                    calls.Add(new ToolCall(name, input.Element.GetRawText()) { Id = id });
                    piece = null;
                    break;
                case "tool_result":
                    if (role != "user")
                        throw b.Error("type", "'tool_result' blocks are only allowed in user messages");
                    string useId = b.String("tool_use_id", required: true)!;
                    if (!openCalls.TryGetValue(useId, out string? toolName))
                        throw b.Error("tool_use_id", $"unexpected tool_use_id '{useId}': each tool_result must answer a tool_use block of the previous assistant message");
                    if (b.Has("cache_control"))
                        breakpoints++;
                    string result = ToolResultText(b);
                    if (b.Bool("is_error") == true)
                        result = "Error: " + result;
                    results.Add(new ChatTurn("tool", result) { ToolCallId = useId, ToolName = toolName });
                    piece = null;
                    break;
                case "document" when current && role == "assistant":
                    throw b.Error("type", "'document' blocks are not allowed in assistant messages");
                case "image" or "document":
                    throw b.Error("type", $"this model cannot read '{type}' blocks (text only)");
                default:
                    throw b.Error("type", $"unknown content block type '{type}'");
            }
            if (piece is not null)
            {
                if (sb.Length > 0)
                    sb.Append('\n');
                sb.Append(piece);
            }
            i++;
        }
        return new ParsedContent(sb.ToString(), calls, results);
    }

    private static string ToolResultText(JsonFields b)
    {
        var content = b.Get("content");
        if (content is null)
            return "";
        if (content.Value.ValueKind == JsonValueKind.String)
            return content.Value.GetString()!;
        if (content.Value.ValueKind != JsonValueKind.Array)
            throw b.Error("content", "Input should be a valid string or a list of content blocks");
        var sb = new StringBuilder();
        int i = 0;
        foreach (var part in content.Value.EnumerateArray())
        {
            var p = b.Child(part, b.Path("content") + "." + i);
            string type = p.String("type", required: true)!;
            if (type != "text")
                throw p.Error("type", $"this model cannot read '{type}' blocks (text only)");
            sb.Append(p.String("text", required: true));
            i++;
        }
        return sb.ToString();
    }
}
