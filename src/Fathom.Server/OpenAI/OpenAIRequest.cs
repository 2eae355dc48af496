using System.Text;
using System.Text.Json;
using Fathom.Tools;

namespace Fathom.Server.OpenAI;

/// <summary>A validated <c>/v1/chat/completions</c> body.</summary>
internal sealed record OpenAIRequest(string Model, ChatPrompt Prompt, int? MaxTokens, int N, IReadOnlyList<string> Stop, bool Stream, bool IncludeUsage, GenerationSettings Settings)
{
    /// <summary>tool_choice and parallel_tool_calls (auto, parallel when absent).</summary>
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Default;

    public static OpenAIRequest Parse(JsonElement root)
    {
        var f = new JsonFields(root, "", anthropic: false);
        string model = f.String("model", required: true)!;
        long? maxTokens = f.Integer("max_completion_tokens", 1, int.MaxValue) ?? f.Integer("max_tokens", 1, int.MaxValue);
        double? temperature = f.Number("temperature", 0, 2);
        double? topP = f.Number("top_p", 0, 1);
        int n = (int)(f.Integer("n", 1, 128) ?? 1);
        long? seed = f.Integer("seed", long.MinValue, long.MaxValue);
        double? presence = f.Number("presence_penalty", -2, 2);
        double? frequency = f.Number("frequency_penalty", -2, 2);
        bool logprobs = f.Bool("logprobs") ?? false;
        if (f.Integer("top_logprobs", 0, 20) is not null && !logprobs)
            throw ApiException.Invalid("Invalid value for 'top_logprobs': 'logprobs' must be true when 'top_logprobs' is set.", "top_logprobs", "invalid_value");
        Fathom.Sampling.Grammar? grammar = null;
        if (f.Object("response_format") is { } rf)
        {
            string type = rf.String("type", required: true)!;
            if (type is not ("text" or "json_object" or "json_schema"))
                throw rf.Error("type", $"'{type}' is not one of 'text', 'json_object', 'json_schema'");
            if (type == "json_object")
                grammar = Fathom.Sampling.JsonSchemaGrammar.JsonObject;
            else if (type == "json_schema")
            {
                var js = rf.Object("json_schema", required: true)!.Value;
                js.String("name", required: true);
                var schema = js.Object("schema") is { } sc ? sc.Element : JsonDocument.Parse("{}").RootElement;
                grammar = ToolRequests.ResponseGrammar(schema, js.Path("schema"), js.Bool("strict") ?? false, anthropic: false);
            }
        }

        var stops = new List<string>();
        if (f.Get("stop") is { } stop)
        {
            if (stop.ValueKind == JsonValueKind.String)
                stops.Add(stop.GetString()!);
            else if (stop.ValueKind == JsonValueKind.Array)
            {
                if (stop.GetArrayLength() > 4)
                    throw f.Error("stop", "at most 4 stop sequences are allowed");
                foreach (var s in stop.EnumerateArray())
                    stops.Add(s.ValueKind == JsonValueKind.String ? s.GetString()! : throw f.Error("stop", "expected strings"));
            }
            else
                throw f.Error("stop", "expected a string or an array of strings");
            stops.RemoveAll(s => s.Length == 0);
        }
        bool stream = f.Bool("stream") ?? false;
        bool includeUsage = f.Object("stream_options") is { } so && (so.Bool("include_usage") ?? false);

        var messages = f.Array("messages", required: true)!.Value;
        if (messages.GetArrayLength() == 0)
            throw ApiException.Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        var tools = ToolRequests.OpenAI(f);
        var toolChoice = ToolRequests.OpenAIChoice(f, tools);
        var turns = new List<ChatTurn>();
        var callNames = new Dictionary<string, string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            string path = JsonFields.Index("messages", i, false);
            var m = f.Child(message, path);
            string role = m.String("role", required: true)!;
            string text;
            List<ToolCall>? toolCalls = null;
            string? toolCallId = null, toolName = null;
            switch (role)
            {
                case "system" or "developer":
                    role = "system";
                    text = Content(m, allowNull: false, parts: false);
                    break;
                case "user":
                    text = Content(m, allowNull: false, parts: true);
                    break;
                case "assistant":
                    text = Content(m, allowNull: true, parts: true);
                    if (m.Array("tool_calls") is { } calls)
                    {
                        toolCalls = [];
                        int k = 0;
                        foreach (var call in calls.EnumerateArray())
                        {
                            var cf = m.Child(call, JsonFields.Index(m.Path("tool_calls"), k++, false));
                            string id = cf.String("id", required: true)!;
                            var fn = cf.Object("function", required: true)!.Value;
                            string name = fn.String("name", required: true)!;
                            toolCalls.Add(new ToolCall(name, fn.String("arguments") ?? "{}") { Id = id });
                            callNames[id] = name;
                        }
                    }
                    break;
                case "tool":
                    toolCallId = m.String("tool_call_id", required: true)!;
                    toolName = callNames.GetValueOrDefault(toolCallId);
                    text = Content(m, allowNull: false, parts: false);
                    break;
                case "function":
                    // Legacy function results: a tool turn without an id.
                    role = "tool";
                    toolName = m.String("name");
                    text = Content(m, allowNull: false, parts: false);
                    break;
                default:
                    throw ApiException.Invalid($"Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", m.Path("role"), "invalid_value");
            }
            turns.Add(new ChatTurn(role, text) { ToolCalls = toolCalls, ToolCallId = toolCallId, ToolName = toolName });
            i++;
        }
        var settings = new GenerationSettings
        {
            MaxTokens = (int)(maxTokens ?? 0),
            Temperature = temperature is { } t ? (float)t : null,
            TopP = topP is { } p ? (float)p : null,
            Seed = seed is { } s2 ? unchecked((int)s2) : null,
            PresencePenalty = presence is { } pp ? (float)pp : null,
            FrequencyPenalty = frequency is { } fp ? (float)fp : null,
            Grammar = grammar,
        };
        settings = SamplingExtensions.Apply(f, settings);
        return new OpenAIRequest(model, new ChatPrompt(turns) { Tools = tools }, maxTokens is null ? null : (int)maxTokens, n, stops, stream, includeUsage, settings)
        {
            ToolChoice = toolChoice,
        };
    }

    private static string Content(JsonFields m, bool allowNull, bool parts)
    {
        var c = allowNull ? m.Get("content") : m.Required("content");
        if (c is null)
            return "";
        if (c.Value.ValueKind == JsonValueKind.String)
            return c.Value.GetString()!;
        if (c.Value.ValueKind != JsonValueKind.Array)
            throw m.Error("content", "expected a string or an array of content parts");
        var sb = new StringBuilder();
        int i = 0;
        foreach (var part in c.Value.EnumerateArray())
        {
            var p = m.Child(part, JsonFields.Index(m.Path("content"), i, false));
            string type = p.String("type", required: true)!;
            if (type is "text" or "refusal")
                sb.Append(p.String(type == "text" ? "text" : "refusal", required: true));
            else if (parts && type is "image_url" or "input_audio" or "file")
                throw ApiException.Invalid($"this model cannot read '{type}' content (text only)", p.Path("type"), "unsupported_content");
            else
                throw p.Error("type", $"unknown content part type '{type}'");
            i++;
        }
        return sb.ToString();
    }
}
