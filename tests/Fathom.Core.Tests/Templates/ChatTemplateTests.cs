using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Templates;

namespace Fathom.Tests.Templates;

public class ChatTemplateTests
{
    private static readonly object[] OneUser = [new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" }];

    private static string Render(string template, ChatTemplateOptions? options = null, object? messages = null) =>
        ChatTemplate.Parse(template).Render(messages ?? OneUser, options);

    private static TemplateRuntimeException Fails(string template, TemplateLimits limits) =>
        Assert.Throws<TemplateRuntimeException>(() => Render(template, new ChatTemplateOptions { Limits = limits }));

    [Fact]
    public void Renders_plain_dotnet_values_and_json()
    {
        var tools = new List<object?> { new Dictionary<string, object?> { ["name"] = "f", ["n"] = 3, ["x"] = 1.5f, ["ok"] = true, ["none"] = null } };
        Assert.Equal("[{\"name\": \"f\", \"n\": 3, \"x\": 1.5, \"ok\": true, \"none\": null}]", Render("{{ tools | tojson }}", new() { Tools = tools }));
        JsonNode node = JsonNode.Parse("""[{"role": "user", "content": "é"}]""")!;
        Assert.Equal("é", Render("{{ messages[0].content }}", messages: node));
        using var doc = JsonDocument.Parse("""{"k": [1, 2.0]}""");
        Assert.Equal("[1, 2.0]", Render("{{ v.k }}", new() { Variables = new Dictionary<string, object?> { ["v"] = doc.RootElement } }));
    }

    [Fact]
    public void Integers_past_64_bits_print_exactly()
    {
        using var doc = JsonDocument.Parse("""{"id": 18446744073709551616, "small": -5}""");
        var options = new ChatTemplateOptions { Variables = new Dictionary<string, object?> { ["v"] = doc.RootElement } };
        Assert.Equal("18446744073709551616 {\"id\": 18446744073709551616, \"small\": -5} True", Render("{{ v.id }} {{ v | tojson }} {{ v.id is integer }}", options));
    }

    [Fact]
    public void Passes_tools_tool_choice_and_documents_like_transformers()
    {
        Assert.Equal("True|True|False", Render("{{ tools is defined }}|{{ tools is none }}|{{ documents is undefined }}"));
        Assert.Equal("False", Render("{{ tools is defined }}", new() { Tools = ChatTemplate.Undefined }));
        var options = new ChatTemplateOptions { Variables = new Dictionary<string, object?> { ["tool_choice"] = "auto", ["enable_thinking"] = false } };
        Assert.Equal("auto False", Render("{{ tool_choice }} {{ enable_thinking }}", options));
    }

    [Fact]
    public void Bos_eos_and_generation_prompt_are_variables()
    {
        var options = new ChatTemplateOptions { BosToken = "<s>", EosToken = "</s>", AddGenerationPrompt = true };
        Assert.Equal("<s>|</s>|True", Render("{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}", options));
    }

    [Fact]
    public void Generation_block_renders_its_body_like_transformers()
    {
        Assert.Equal("<a>hi</a>", Render("{% for m in messages %}<a>{% generation %}{{ m.content }}{% set x = 1 %}{% endgeneration %}</a>{{ x }}{% endfor %}"));
    }

    [Fact]
    public void Strftime_now_reads_the_injected_clock()
    {
        var clock = new FixedClock(new DateTimeOffset(2025, 3, 9, 23, 5, 7, TimeSpan.Zero));
        Assert.Equal("09 Mar 2025 23:05:07 Sunday", Render("{{ strftime_now('%d %b %Y %H:%M:%S %A') }}", new() { Clock = clock }));
        Assert.Equal("2026-01-15", Render("{{ strftime_now('%Y-%m-%d') }}", new() { Clock = clock, Now = new DateTime(2026, 1, 15) }));
    }

    [Fact]
    public void Raise_exception_is_typed_and_carries_exactly_the_message()
    {
        var ex = Assert.Throws<TemplateRaisedException>(() => Render("line\n{{ raise_exception('Roles must alternate!') }}"));
        Assert.Equal("Roles must alternate!", ex.Message);
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public void Syntax_errors_carry_line_and_column()
    {
        var ex = Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse("ok\n  {{ 1 + }}"));
        Assert.Equal(2, ex.Line);
        Assert.Equal(10, ex.Column);
        Assert.Contains("line 2", ex.Message, StringComparison.Ordinal);
        var unclosed = Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse("{% for m in messages %}\n{{ m }}"));
        Assert.Contains("endfor", unclosed.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Runtime_errors_carry_line_and_column()
    {
        var ex = Assert.Throws<TemplateRuntimeException>(() => Render("a\nb {{ messages[0].content + 1 }}"));
        Assert.Equal(2, ex.Line);
        Assert.Contains("can only concatenate str", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Sandbox_refuses_mutation_and_has_no_reflection()
    {
        Assert.Contains("unsafe", Assert.Throws<TemplateRuntimeException>(() => Render("{{ messages.append(1) }}")).Message, StringComparison.Ordinal);
        Assert.Contains("unsafe", Assert.Throws<TemplateRuntimeException>(() => Render("{{ messages[0].update({}) }}")).Message, StringComparison.Ordinal);
        Assert.Equal("", Render("{{ ''.__class__ }}{{ messages.__len__ }}{{ raise_exception.__globals__ }}"));
        Assert.Throws<TemplateRuntimeException>(() => Render("{{ ''.__class__.__mro__ }}"));
        Assert.Throws<TemplateRuntimeException>(() => Render("{{ range.__init__.__globals__['os'] }}"));
    }

    [Fact]
    public void Unsupported_input_types_are_refused_not_reflected()
    {
        Assert.Throws<ArgumentException>(() => Render("{{ x }}", new() { Variables = new Dictionary<string, object?> { ["x"] = new Uri("http://a/") } }));
    }

    [Fact]
    public void Nested_loops_are_bounded()
    {
        var ex = Fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", new() { MaxLoopIterations = 50_000 });
        Assert.Contains("loop iterations", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unbounded_recursion_is_bounded()
    {
        Assert.Contains("Recursion", Fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", TemplateLimits.Default).Message, StringComparison.Ordinal);
        Assert.Contains("Recursion", Fails("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", TemplateLimits.Default).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Output_and_string_size_are_bounded()
    {
        var limits = new TemplateLimits { MaxOutputChars = 100_000 };
        Assert.Contains("output", Fails("{% for i in range(100000) %}xxxxxxxxxx{% endfor %}", limits).Message, StringComparison.Ordinal);
        Assert.Contains("limit", Fails("{{ 'x' * 1000000000000 }}", limits).Message, StringComparison.Ordinal);
        Assert.Contains("limit", Fails("{{ [0] * 1000000000000 }}", limits).Message, StringComparison.Ordinal);
        Assert.Contains("limit", Fails("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", limits).Message, StringComparison.Ordinal);
        Assert.Contains("Range too big", Fails("{{ range(1000000000) | length }}", limits).Message, StringComparison.Ordinal);
        Assert.Contains("Overflow", Fails("{{ 2 ** 100000 }}", limits).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluation_steps_are_bounded()
    {
        Assert.Contains("steps", Fails("{% for i in range(100000) %}{{ i + i + i + i }}{% endfor %}", new() { MaxSteps = 10_000 }).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deep_nesting_is_a_syntax_error_not_a_crash()
    {
        string deep = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse(deep));
        string deepIf = string.Concat(Enumerable.Repeat("{% if true %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000));
        Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse(deepIf));
        Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse("{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}"));
        string longChain = "{% if false %}" + string.Concat(Enumerable.Range(0, 50_000).Select(i => $"{{% elif messages[0].content == 'x{i}' %}}{i}")) + "{% else %}end{% endif %}";
        Assert.Equal("end", ChatTemplate.Parse(longChain).Render(OneUser));
        string longSum = "{{ " + string.Join(" + ", Enumerable.Repeat("1", 200_000)) + " }}";
        Assert.ThrowsAny<TemplateException>(() => ChatTemplate.Parse(longSum).Render(OneUser));
        string longFilters = "{{ 'a'" + string.Concat(Enumerable.Repeat(" | trim", 200_000)) + " }}";
        Assert.ThrowsAny<TemplateException>(() => ChatTemplate.Parse(longFilters).Render(OneUser));
    }

    [Fact]
    public void Deeply_nested_values_built_by_a_template_fail_cleanly()
    {
        string t = "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x == ns.x }}{{ ns.x | tojson }}";
        Assert.Throws<TemplateRuntimeException>(() => Render(t));
    }

    [Fact]
    public void Deeply_nested_input_is_refused()
    {
        object? v = "x";
        for (int i = 0; i < 1000; i++)
            v = new List<object?> { v };
        Assert.Throws<ArgumentException>(() => Render("{{ x }}", new() { Variables = new Dictionary<string, object?> { ["x"] = v } }));
    }

    [Fact]
    public void Rendering_is_repeatable_and_thread_safe()
    {
        ChatTemplate t = ChatTemplate.Parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}");
        var results = new string[8];
        Parallel.For(0, results.Length, i => results[i] = t.Render(OneUser));
        Assert.All(results, r => Assert.Equal("1", r));
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }
}
