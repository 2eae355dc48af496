using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Tools;

/// <summary>A tool the model may call: name, description and a JSON Schema for its arguments.</summary>
public sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters);

/// <summary>One message of a conversation with tools: assistant turns may carry calls, <c>tool</c> turns answer one.</summary>
public sealed record ToolChatMessage(string Role, string Content)
{
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>For a <c>tool</c> message: the id of the call it answers.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>For a <c>tool</c> message: the tool that produced it.</summary>
    public string? ToolName { get; init; }
}

/// <summary>
/// Builds the values a chat template sees, exactly as transformers' apply_chat_template passes them:
/// <c>tools</c> as <c>[{"type": "function", "function": {name, description, parameters}}]</c>, assistant
/// <c>tool_calls</c> as <c>[{"id", "type": "function", "function": {"name", "arguments": {…}}}]</c> (arguments an object),
/// and tool results as <c>{"role": "tool", "tool_call_id", "name", "content"}</c>. For templates that cannot show
/// tools, <see cref="Fallback"/> writes them into the text in the Hermes format.
/// </summary>
public static class ToolTemplateData
{
    /// <summary>Whether a template reads the <c>tools</c> variable at all.</summary>
    public static bool SupportsTools(string chatTemplate)
    {
        ArgumentNullException.ThrowIfNull(chatTemplate);
        return chatTemplate.Contains("tools", StringComparison.Ordinal);
    }

    /// <summary>
    /// Whether the template needs tool-call arguments as a JSON string rather than an object (a few, e.g. functionary
    /// v3.2, concatenate them): a probe call is rendered both ways and the form that shows its argument wins.
    /// </summary>
    public static bool WantsStringArguments(Fathom.Templates.ChatTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        const string marker = "fathom_probe_value";
        List<ToolChatMessage> probe =
        [
            new("user", "probe"),
            new("assistant", "") { ToolCalls = [new ToolCall("probe_tool", "{\"probe_arg\": \"" + marker + "\"}") { Id = "call12345" }] },
        ];
        bool Shows(bool asString)
        {
            try
            {
                return template.Render(Messages(probe, asString), new Fathom.Templates.ChatTemplateOptions()).Contains(marker, StringComparison.Ordinal);
            }
            catch (Fathom.Templates.TemplateException)
            {
                return false;
            }
        }
        return !Shows(false) && Shows(true);
    }

    /// <param name="stringArguments">Pass tool-call arguments as JSON text (see <see cref="WantsStringArguments"/>).</param>
    public static List<object?> Messages(IEnumerable<ToolChatMessage> messages, bool stringArguments = false)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<object?>();
        foreach (var m in messages)
        {
            var d = new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content };
            if (m.ToolCalls is { Count: > 0 } calls)
            {
                d["tool_calls"] = calls.Select((c, i) => (object?)new Dictionary<string, object?>
                {
                    ["id"] = c.Id ?? $"call_{i}",
                    ["type"] = "function",
                    ["function"] = new Dictionary<string, object?> { ["name"] = c.Name, ["arguments"] = stringArguments ? c.Arguments : ArgumentsValue(c.Arguments) },
                }).ToList();
            }
            if (m.ToolCallId is not null)
                d["tool_call_id"] = m.ToolCallId;
            if (m.ToolName is not null)
                d["name"] = m.ToolName;
            list.Add(d);
        }
        return list;
    }

    public static List<object?> Tools(IEnumerable<ToolDefinition> tools)
    {
        ArgumentNullException.ThrowIfNull(tools);
        return [.. tools.Select(t =>
        {
            var fn = new Dictionary<string, object?> { ["name"] = t.Name };
            if (t.Description is not null)
                fn["description"] = t.Description;
            fn["parameters"] = t.Parameters is { } p ? p : new Dictionary<string, object?> { ["type"] = "object", ["properties"] = new Dictionary<string, object?>() };
            return (object?)new Dictionary<string, object?> { ["type"] = "function", ["function"] = fn };
        })];
    }

    /// <summary>
    /// The conversation for a template without tool support: the tool list and the Hermes call format go into the
    /// system prompt, calls become <c>&lt;tool_call&gt;</c> text and results become user turns in <c>&lt;tool_response&gt;</c>.
    /// </summary>
    public static List<ToolChatMessage> Fallback(IReadOnlyList<ToolChatMessage> messages, IReadOnlyList<ToolDefinition> tools)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(tools);
        var result = new List<ToolChatMessage>();
        if (tools.Count > 0)
        {
            var sb = new StringBuilder();
            sb.Append("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n")
              .Append("You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
            foreach (var t in Tools(tools))
                sb.Append('\n').Append(ToNode(t)!.ToJsonString());
            sb.Append("\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n")
              .Append("<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>");
            string system = sb.ToString();
            if (messages.Count > 0 && messages[0].Role == "system")
                result.Add(new ToolChatMessage("system", messages[0].Content + "\n\n" + system));
            else
                result.Add(new ToolChatMessage("system", system));
        }
        foreach (var m in messages.Skip(tools.Count > 0 && messages.Count > 0 && messages[0].Role == "system" ? 1 : 0))
        {
            if (m.Role == "tool")
            {
                string response = "<tool_response>\n" + m.Content + "\n</tool_response>";
                if (result.Count > 0 && result[^1].Role == "user" && result[^1].Content.EndsWith("</tool_response>", StringComparison.Ordinal))
                    result[^1] = result[^1] with { Content = result[^1].Content + "\n" + response };
                else
                    result.Add(new ToolChatMessage("user", response));
                continue;
            }
            if (m.ToolCalls is { Count: > 0 } calls)
            {
                var sb = new StringBuilder(m.Content);
                foreach (var c in calls)
                {
                    if (sb.Length > 0)
                        sb.Append('\n');
                    sb.Append("<tool_call>\n{\"name\": ").Append(JsonSerializer.Serialize(c.Name, ToolJson.Default.String))
                      .Append(", \"arguments\": ").Append(c.Arguments).Append("}\n</tool_call>");
                }
                result.Add(new ToolChatMessage(m.Role, sb.ToString()));
                continue;
            }
            result.Add(new ToolChatMessage(m.Role, m.Content));
        }
        return result;
    }

    /// <summary>Arguments reach templates as an object (the HF convention); text that is not a JSON object stays a string.</summary>
    private static object? ArgumentsValue(string arguments)
    {
        try
        {
            using var doc = JsonDocument.Parse(arguments);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : arguments;
        }
        catch (JsonException)
        {
            return arguments;
        }
    }

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        JsonElement e => JsonNode.Parse(e.GetRawText()),
        string s => JsonValue.Create(s),
        Dictionary<string, object?> d => new JsonObject(d.Select(kv => KeyValuePair.Create(kv.Key, ToNode(kv.Value)))),
        _ => throw new ArgumentException($"unexpected tool value {value.GetType().Name}"),
    };
}
