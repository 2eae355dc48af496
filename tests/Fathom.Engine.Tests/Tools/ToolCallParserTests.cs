using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Tools;

namespace Fathom.Engine.Tests.Tools;

/// <summary>Hand-written outputs of each family, parsed whole and streamed in every chunking, well-formed and not.</summary>
public class ToolCallParserTests
{
    private const string Weather = """{"city": "Paris", "days": [1, 2.5e1], "note": "a \"quoted\" \\ back\u00e9"}""";

    public static TheoryData<ToolCallFormat, string, string, string[]> WellFormed() => new()
    {
        {
            ToolCallFormat.Hermes,
            "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + Weather + "}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
            "Let me check.\n", ["get_weather", "get_time"]
        },
        { ToolCallFormat.Hermes, "<tool_call>{\"arguments\": " + Weather + ", \"name\": \"get_weather\"}</tool_call>", "<tool_call>{\"arguments\": " + Weather + ", \"name\": \"get_weather\"}</tool_call>", [] },
        { ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_time\"}\n</tool_call>", "", ["get_time"] },
        { ToolCallFormat.Llama3, "{\"name\": \"get_weather\", \"parameters\": " + Weather + "}", "", ["get_weather"] },
        { ToolCallFormat.Llama3, "Sure. <|python_tag|>{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": " + Weather + "}", "Sure. ", ["get_weather"] },
        { ToolCallFormat.Llama3, "Here is data {\"a\": {\"b\": 1}} and {braces}.", "Here is data {\"a\": {\"b\": 1}} and {braces}.", [] },
        {
            ToolCallFormat.Mistral,
            "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": " + Weather + ", \"id\": \"abc123xyz\"}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}]",
            "", ["get_weather", "get_time"]
        },
        {
            ToolCallFormat.MistralV11,
            "[TOOL_CALLS]get_weather[CALL_ID]call12345[ARGS]" + Weather + "[TOOL_CALLS]get_time[ARGS]{\"tz\": \"CET\"}",
            "", ["get_weather", "get_time"]
        },
        {
            ToolCallFormat.DeepSeekR1,
            "I will look it up.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n" + Weather
                + "\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"tz\": \"CET\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
            "I will look it up.", ["get_weather", "get_time"]
        },
        {
            ToolCallFormat.DeepSeekR1,
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>" + Weather + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
            "", ["get_weather"]
        },
        {
            ToolCallFormat.CommandR,
            "Plan: I will search.\nAction: ```json\n[\n    {\n        \"tool_name\": \"get_weather\",\n        \"parameters\": " + Weather
                + "\n    },\n    {\"tool_name\": \"get_time\", \"parameters\": {\"tz\": \"CET\"}}\n]\n```",
            "Plan: I will search.\n", ["get_weather", "get_time"]
        },
        {
            ToolCallFormat.CommandR7B,
            "<|START_THINKING|>x<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": " + Weather + "}\n]<|END_ACTION|>",
            "<|START_THINKING|>x<|END_THINKING|>", ["get_weather"]
        },
    };

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void Whole_output_splits_into_text_and_calls(ToolCallFormat format, string output, string text, string[] names)
    {
        var parsed = ToolCallParser.Parse(format, output);
        Assert.Equal(text, parsed.Text);
        Assert.Equal(names, parsed.Calls.Select(c => c.Name));
        foreach (var call in parsed.Calls)
        {
            var args = JsonNode.Parse(call.Arguments);
            Assert.IsType<JsonObject>(args);
            if (call.Name == "get_weather")
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(Weather), args), call.Arguments);
        }
    }

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void Streaming_in_any_chunking_gives_the_same_result(ToolCallFormat format, string output, string text, string[] names)
    {
        var whole = ToolCallParser.Parse(format, output);
        foreach (int size in (int[])[1, 2, 3, 5, 8, 13, 64])
        {
            var (streamText, calls, _) = Stream(format, Chunks(output, size));
            Assert.Equal(text, streamText);
            Assert.Equal(names, calls.Select(c => c.Name));
            Assert.Equal(whole.Calls.Select(c => c.Arguments), calls.Select(c => c.Arguments));
        }
    }

    [Fact]
    public void A_streamed_call_is_announced_before_its_arguments_finish_and_they_arrive_in_fragments()
    {
        string output = "Checking.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + Weather + "}\n</tool_call>";
        var parser = new ToolCallParser(ToolCallFormat.Hermes);
        var events = new List<(int Chunk, ToolCallEvent Event)>();
        var chunks = Chunks(output, 4).ToList();
        for (int i = 0; i < chunks.Count; i++)
            events.AddRange(parser.Push(chunks[i]).Select(e => (i, e)));
        events.AddRange(parser.Complete().Select(e => (chunks.Count, e)));
        int start = events.FindIndex(e => e.Event.Kind == ToolCallEventKind.CallStart);
        int end = events.FindIndex(e => e.Event.Kind == ToolCallEventKind.CallEnd);
        Assert.Equal("get_weather", events[start].Event.Text);
        // The name is out as soon as the header is read: well before the arguments are.
        Assert.True(events[start].Chunk < chunks.Count / 2, $"announced at chunk {events[start].Chunk} of {chunks.Count}");
        int fragments = events.Count(e => e.Event.Kind == ToolCallEventKind.Arguments);
        Assert.True(fragments > Weather.Length / 8, $"{fragments} fragments");
        Assert.True(start < end);
        Assert.Equal(Weather, string.Concat(events.Where(e => e.Event.Kind == ToolCallEventKind.Arguments).Select(e => e.Event.Text)));
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": tru}}\n</tool_call>")]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1,}}\n</tool_call>")]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\nget_weather(city='Paris')\n</tool_call>")]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": [1, 2]}\n</tool_call>")]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"unterminated")]
    [InlineData(ToolCallFormat.Llama3, "{\"name\": \"f\", \"parameters\": {\"a\": 01}}")]
    [InlineData(ToolCallFormat.Mistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\" 1}}]")]
    [InlineData(ToolCallFormat.MistralV11, "[TOOL_CALLS]not a name[ARGS]{}")]
    [InlineData(ToolCallFormat.DeepSeekR1, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{'a': 1}\n```<｜tool▁call▁end｜>")]
    [InlineData(ToolCallFormat.CommandR, "Action: ```json\n[{\"tool_name\": \"f\", \"parameters\": {\"a\": NaN}}]\n```")]
    [InlineData(ToolCallFormat.CommandR7B, "<|START_ACTION|>[{\"tool_name\": 3, \"parameters\": {}}]<|END_ACTION|>")]
    public void Malformed_calls_are_reported_as_text(ToolCallFormat format, string output)
    {
        var parsed = ToolCallParser.Parse(format, output);
        Assert.Empty(parsed.Calls);
        Assert.Equal(output, parsed.Text);
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": tru}}\n</tool_call>")]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, {\"b\": \"x\\u00")]
    [InlineData(ToolCallFormat.Mistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\" 2}}]")]
    [InlineData(ToolCallFormat.Llama3, "{\"name\": \"f\", \"parameters\": {\"k\": -")]
    public void A_streamed_call_that_breaks_after_it_was_announced_is_closed_with_valid_json(ToolCallFormat format, string output)
    {
        foreach (int size in (int[])[1, 3, 7])
        {
            var (_, calls, _) = Stream(format, Chunks(output, size));
            var call = Assert.Single(calls);
            Assert.Equal("f", call.Name);
            Assert.IsType<JsonObject>(JsonNode.Parse(call.Arguments));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Long_arguments_in_small_chunks_parse_whole_and_a_long_broken_call_comes_back_as_text(bool broken)
    {
        // A file-writing call: tens of kilobytes of arguments, as coding agents send.
        string content = string.Concat(Enumerable.Range(0, 3000).Select(i => $"line {i}: \\\"x\\\"\\n"));
        string args = "{\"path\": \"a.txt\", \"content\": \"" + content + "\"" + (broken ? ", oops}" : "}");
        string output = "Writing.<tool_call>\n{\"name\": \"write\", \"arguments\": " + args + "}\n</tool_call>";
        var chunks = Chunks(output, 3).ToList();
        var parser = new ToolCallParser(ToolCallFormat.Hermes, holdCalls: true);
        var events = chunks.SelectMany(parser.Push).Concat(parser.Complete()).ToList();
        string text = string.Concat(events.Where(e => e.Kind == ToolCallEventKind.Text).Select(e => e.Text));
        if (broken)
        {
            Assert.Equal(output, text);
            Assert.DoesNotContain(events, e => e.Kind == ToolCallEventKind.CallStart);
        }
        else
        {
            Assert.Equal("Writing.", text);
            Assert.Equal(args, string.Concat(events.Where(e => e.Kind == ToolCallEventKind.Arguments).Select(e => e.Text)));
        }
        var (_, calls, _) = Stream(ToolCallFormat.Hermes, chunks);
        Assert.Equal("write", Assert.Single(calls).Name);
        Assert.IsType<JsonObject>(JsonNode.Parse(calls[0].Arguments));
    }

    [Fact]
    public void A_call_to_an_undeclared_tool_stays_text()
    {
        const string output = "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call><tool_call>{\"name\": \"ls\", \"arguments\": {}}</tool_call>";
        var parsed = ToolCallParser.Parse(ToolCallFormat.Hermes, output, ["ls"]);
        Assert.Equal("ls", Assert.Single(parsed.Calls).Name);
        Assert.Equal("<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>", parsed.Text);
        var (text, calls, _) = Stream(ToolCallFormat.Hermes, Chunks(output, 2), ["ls"]);
        Assert.Equal(parsed.Text, text);
        Assert.Equal("ls", Assert.Single(calls).Name);
    }

    [Fact]
    public void Arguments_given_as_a_json_string_are_decoded()
    {
        string inner = JsonSerializer.Serialize(Weather);
        var parsed = ToolCallParser.Parse(ToolCallFormat.Hermes, "<tool_call>{\"name\": \"get_weather\", \"arguments\": " + inner + "}</tool_call>");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(Weather), JsonNode.Parse(Assert.Single(parsed.Calls).Arguments)));
    }

    [Fact]
    public void Format_none_passes_everything_through()
    {
        const string output = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
        Assert.Equal(output, ToolCallParser.Parse(ToolCallFormat.None, output).Text);
        Assert.Equal(output, Stream(ToolCallFormat.None, Chunks(output, 3)).Text);
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes)]
    [InlineData(ToolCallFormat.Llama3)]
    [InlineData(ToolCallFormat.Mistral)]
    [InlineData(ToolCallFormat.MistralV11)]
    [InlineData(ToolCallFormat.DeepSeekR1)]
    [InlineData(ToolCallFormat.CommandR)]
    [InlineData(ToolCallFormat.CommandR7B)]
    public void A_forced_prefix_continued_by_the_arguments_parses_as_that_call(ToolCallFormat format)
    {
        string named = ToolCallFormats.ForcedPrefix(format, "get_weather") + Weather;
        var parsed = ToolCallParser.Parse(format, named);
        Assert.Equal("get_weather", Assert.Single(parsed.Calls).Name);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(Weather), JsonNode.Parse(parsed.Calls[0].Arguments)));
        Assert.Equal("", parsed.Text);
    }

    [Fact]
    public void Random_text_without_markers_passes_through_unchanged_in_any_chunking()
    {
        var rng = new Random(7);
        const string alphabet = "ab {}[]\"':,<>|_\n\\Action:TOOL_CALLStool_call/";
        foreach (ToolCallFormat format in Enum.GetValues<ToolCallFormat>())
        {
            for (int trial = 0; trial < 40; trial++)
            {
                var sb = new StringBuilder();
                int n = rng.Next(0, 80);
                for (int i = 0; i < n; i++)
                    sb.Append(alphabet[rng.Next(alphabet.Length)]);
                string s = sb.ToString();
                var whole = ToolCallParser.Parse(format, s);
                var streamed = Stream(format, Chunks(s, rng.Next(1, 6)));
                Assert.Equal(whole.Text, streamed.Text);
                if (whole.Calls.Count == 0)
                    Assert.Equal(s, whole.Text);
            }
        }
    }

    // ---- Qwen3-Coder XML ------------------------------------------------------------------------------------

    private static readonly List<ToolDefinition> CoderTools =
    [
        new("write_file", null, JsonDocument.Parse("""
            {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}, "mode": {"enum": ["w", "a"]},
             "lines": {"type": "integer"}, "ratio": {"type": "number"}, "force": {"type": "boolean"}, "meta": {"type": "object"},
             "tags": {"type": "array", "items": {"type": "string"}}, "parent": {"type": ["integer", "null"]}}}
            """).RootElement.Clone()),
        new("list_dir", null, null),
    ];

    private const string CoderOutput = "I'll write it.\n<tool_call>\n<function=write_file>\n<parameter=path>\nsrc/a \"b\".cs\n</parameter>\n"
        + "<parameter=content>\nline 1\n  if (a < b && c > d) { x = \"\\\\\"; } // é 日本 😀\n\n</parameter>\n<parameter=mode>\na\n</parameter>\n"
        + "<parameter=lines>\n42\n</parameter>\n<parameter=ratio>\n2.5e1\n</parameter>\n<parameter=force>\nTrue\n</parameter>\n"
        + "<parameter=meta>\n{\"k\": [1, null]}\n</parameter>\n<parameter=tags>\n[\"x\", \"y\"]\n</parameter>\n<parameter=parent>\nnull\n</parameter>\n"
        + "<parameter=unknown>\n7\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=list_dir>\n</function>\n</tool_call>";

    private const string CoderArgs = """
        {"path": "src/a \"b\".cs", "content": "line 1\n  if (a < b && c > d) { x = \"\\\\\"; } // é 日本 😀\n", "mode": "a", "lines": 42, "ratio": 2.5e1,
         "force": true, "meta": {"k": [1, null]}, "tags": ["x", "y"], "parent": null, "unknown": "7"}
        """;

    [Fact]
    public void Qwen3_coder_calls_parse_with_values_typed_by_the_schema()
    {
        var parsed = ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, CoderOutput, CoderTools);
        Assert.Equal("I'll write it.\n", parsed.Text);
        Assert.Equal(["write_file", "list_dir"], parsed.Calls.Select(c => c.Name));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(CoderArgs), JsonNode.Parse(parsed.Calls[0].Arguments)), parsed.Calls[0].Arguments);
        Assert.Equal("{}", parsed.Calls[1].Arguments);
        // Without schemas every value is a string; a value that is not JSON falls back to its text.
        var untyped = ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, CoderOutput);
        Assert.Equal("42", JsonNode.Parse(untyped.Calls[0].Arguments)!["lines"]!.GetValue<string>());
        string notJson = "<tool_call>\n<function=write_file>\n<parameter=lines>\nforty\n</parameter>\n</function>\n</tool_call>";
        Assert.Equal("forty", JsonNode.Parse(ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, notJson, CoderTools).Calls[0].Arguments)!["lines"]!.GetValue<string>());
    }

    [Fact]
    public void Qwen3_coder_streams_the_call_incrementally_and_any_chunking_gives_the_same_result()
    {
        var whole = ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, CoderOutput, CoderTools);
        foreach (int size in (int[])[1, 2, 3, 5, 8, 13, 64])
        {
            var parser = new ToolCallParser(ToolCallFormat.Qwen3Coder, CoderTools);
            var events = new List<(int Chunk, ToolCallEvent Event)>();
            var chunks = Chunks(CoderOutput, size).ToList();
            for (int i = 0; i < chunks.Count; i++)
                events.AddRange(parser.Push(chunks[i]).Select(e => (i, e)));
            events.AddRange(parser.Complete().Select(e => (chunks.Count, e)));
            Assert.Equal("I'll write it.\n", string.Concat(events.Where(e => e.Event.Kind == ToolCallEventKind.Text).Select(e => e.Event.Text)));
            var args = events.Where(e => e.Event.Kind == ToolCallEventKind.Arguments && e.Event.Index == 0).ToList();
            Assert.Equal(whole.Calls[0].Arguments, string.Concat(args.Select(e => e.Event.Text)));
            Assert.Equal(whole.Calls[1].Arguments, string.Concat(events.Where(e => e.Event.Kind == ToolCallEventKind.Arguments && e.Event.Index == 1).Select(e => e.Event.Text)));
            if (size <= 3)
            {
                // announced at its header and the raw content streams while it is written
                int start = events.First(e => e.Event.Kind == ToolCallEventKind.CallStart).Chunk;
                Assert.True(start < chunks.Count / 4, $"announced at chunk {start} of {chunks.Count}");
                Assert.True(args.Count > 20, $"{args.Count} fragments");
            }
        }
    }

    [Theory]
    [InlineData("<tool_call>\n<function=write_file>\n<parameter=path>\nunterminated")]
    [InlineData("<tool_call>\n<function=write_file>\ngarbage\n</function>\n</tool_call>")]
    [InlineData("<tool_call>\n<function=write_file\n<parameter=path>\na\n</parameter>\n</function>\n</tool_call>")]
    [InlineData("<tool_call>\n<function=nope>\n</function>\n</tool_call>")]
    [InlineData("<tool_call>\n<function=write_file>\n<parameter=path\n>\na\n</parameter>\n</function>")]
    [InlineData("<tool_call>\n<function=write_file>\n<parameter=path>\na\n</parameter>\n")]
    public void Qwen3_coder_malformed_calls_are_text_and_a_broken_stream_closes_with_valid_json(string output)
    {
        var parsed = ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, output, CoderTools);
        Assert.Empty(parsed.Calls);
        Assert.Equal(output, parsed.Text);
        foreach (int size in (int[])[1, 4, 64])
        {
            var parser = new ToolCallParser(ToolCallFormat.Qwen3Coder, CoderTools);
            var events = Chunks(output, size).SelectMany(parser.Push).ToList();
            events.AddRange(parser.Complete());
            foreach (int index in events.Where(e => e.Kind == ToolCallEventKind.CallStart).Select(e => e.Index))
            {
                Assert.Contains(events, e => e.Kind == ToolCallEventKind.CallEnd && e.Index == index);
                Assert.IsType<JsonObject>(JsonNode.Parse(string.Concat(events.Where(e => e.Kind == ToolCallEventKind.Arguments && e.Index == index).Select(e => e.Text))));
            }
        }
    }

    [Fact]
    public void Qwen3_coder_calls_round_trip_through_the_template_history()
    {
        var template = Fathom.Templates.ChatTemplate.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "chat-templates", "templates", "Qwen3-Coder.jinja")));
        var parsed = ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, CoderOutput, CoderTools);
        List<ToolChatMessage> history = [new("user", "go"), new("assistant", parsed.Text) { ToolCalls = parsed.Calls }];
        string rendered = template.Render(ToolTemplateData.Messages(history), new Fathom.Templates.ChatTemplateOptions());
        int at = rendered.IndexOf("<|im_start|>assistant", StringComparison.Ordinal);
        string turn = rendered[(at + "<|im_start|>assistant".Length)..rendered.IndexOf("<|im_end|>", at, StringComparison.Ordinal)];
        var again = ToolCallParser.Parse(ToolCallFormat.Qwen3Coder, turn, CoderTools);
        Assert.Equal(parsed.Calls.Select(c => c.Name), again.Calls.Select(c => c.Name));
        for (int i = 0; i < parsed.Calls.Count; i++)
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(parsed.Calls[i].Arguments), JsonNode.Parse(again.Calls[i].Arguments)), again.Calls[i].Arguments);
    }

    internal static IEnumerable<string> Chunks(string s, int size)
    {
        for (int i = 0; i < s.Length; i += size)
            yield return s.Substring(i, Math.Min(size, s.Length - i));
    }

    internal static (string Text, List<ToolCall> Calls, List<ToolCallEvent> Events) Stream(ToolCallFormat format, IEnumerable<string> chunks, IEnumerable<string>? names = null)
    {
        var parser = new ToolCallParser(format, names);
        var events = new List<ToolCallEvent>();
        foreach (string c in chunks)
            events.AddRange(parser.Push(c));
        events.AddRange(parser.Complete());
        var text = new StringBuilder();
        var calls = new List<(string Name, StringBuilder Args, bool Ended)>();
        foreach (var e in events)
        {
            switch (e.Kind)
            {
                case ToolCallEventKind.Text:
                    text.Append(e.Text);
                    break;
                case ToolCallEventKind.CallStart:
                    Assert.Equal(calls.Count, e.Index);
                    Assert.True(calls.Count == 0 || calls[^1].Ended, "a call started before the previous one ended");
                    calls.Add((e.Text, new StringBuilder(), false));
                    break;
                case ToolCallEventKind.Arguments:
                    Assert.Equal(calls.Count - 1, e.Index);
                    Assert.False(calls[^1].Ended);
                    calls[^1].Args.Append(e.Text);
                    break;
                case ToolCallEventKind.CallEnd:
                    Assert.Equal(calls.Count - 1, e.Index);
                    calls[^1] = calls[^1] with { Ended = true };
                    break;
            }
        }
        Assert.All(calls, c => Assert.True(c.Ended));
        return (text.ToString(), [.. calls.Select(c => new ToolCall(c.Name, c.Args.ToString()))], events);
    }
}
