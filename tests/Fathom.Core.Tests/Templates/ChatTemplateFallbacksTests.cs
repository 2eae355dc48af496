using System.Text;
using System.Text.Json;
using Fathom.Gguf;
using Fathom.Templates;

namespace Fathom.Tests.Templates;

public class ChatTemplateFallbacksTests
{
    // Each fallback must render like the real model template wherever the real one behaves like the format
    // (it honours add_generation_prompt, has no system turn to drop, and the case is not an error case).
    [Theory]
    [InlineData("chatml", "teknium-OpenHermes-2.5-Mistral-7B", false, false)]
    [InlineData("llama3", "meta-llama-Meta-Llama-3-8B-Instruct", true, false)]
    [InlineData("phi3", "microsoft-Phi-3-mini-instruct", true, true)]
    [InlineData("gemma", "google-gemma-2-2b-it", false, true)]
    [InlineData("mistral", "mistralai-Mistral-7B-Instruct-v0.2", false, true)]
    public void Fallback_renders_like_the_real_template_of_its_family(string fallback, string template, bool onlyGenerationPrompt, bool onlyWithoutSystem)
    {
        int compared = 0;
        foreach (string file in Directory.EnumerateFiles(Path.Combine(Fixtures.ChatTemplates, "cases"), template + "__*.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            JsonElement c = doc.RootElement;
            if (!c.TryGetProperty("expected", out JsonElement expected))
                continue;
            bool gen = c.GetProperty("add_generation_prompt").GetBoolean();
            JsonElement messages = c.GetProperty("messages");
            if ((onlyGenerationPrompt && !gen) || (onlyWithoutSystem && messages.EnumerateArray().Any(m => m.GetProperty("role").GetString() == "system")))
                continue;
            string actual = ChatTemplateFallbacks.Get(fallback).Render(messages, new ChatTemplateOptions
            {
                AddGenerationPrompt = gen,
                BosToken = c.GetProperty("bos_token").GetString()!,
                EosToken = c.GetProperty("eos_token").GetString()!,
            });
            Assert.Equal(expected.GetString(), actual);
            compared++;
        }
        Assert.True(compared >= 2, $"only {compared} comparable cases");
    }

    [Fact]
    public void Llama2_folds_the_system_prompt_into_the_first_instruction()
    {
        object[] messages =
        [
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = "Be brief." },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "Hi" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "Hello" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "Again" },
        ];
        string actual = ChatTemplateFallbacks.Get("llama2").Render(messages, new ChatTemplateOptions { BosToken = "<s>", EosToken = "</s>" });
        Assert.Equal("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Again [/INST]", actual);
    }

    [Fact]
    public void Every_fallback_renders_list_content_and_a_system_turn()
    {
        object[] messages =
        [
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = "S" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = new object[] { new Dictionary<string, object?> { ["type"] = "text", ["text"] = "part" } } },
        ];
        foreach (string name in ChatTemplateFallbacks.Names)
        {
            string text = ChatTemplateFallbacks.Get(name).Render(messages, new ChatTemplateOptions { AddGenerationPrompt = true });
            Assert.Contains("part", text, StringComparison.Ordinal);
            Assert.Contains("S", text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("qwen2", "<|im_start|>,<|im_end|>", "gpt2", "chatml")]
    [InlineData("llama", "<|begin_of_text|>,<|start_header_id|>,<|end_header_id|>,<|eot_id|>", "gpt2", "llama3")]
    [InlineData("gemma2", "<bos>,<start_of_turn>,<end_of_turn>", "llama", "gemma")]
    [InlineData("gemma3", "<bos>", "llama", "gemma")]
    [InlineData("phi3", "<s>", "llama", "phi3")]
    [InlineData("llama", "<s>,</s>,<|assistant|>,<|end|>,<|user|>", "llama", "phi3")]
    [InlineData("llama", "<s>,</s>,[INST],[/INST]", "llama", "mistral")]
    [InlineData("llama", "<s>,</s>", "llama", "llama2")]
    [InlineData("llama", "<|begin_of_text|>", "gpt2", "chatml")]
    [InlineData(null, null, null, "chatml")]
    public void Choose_picks_the_format_the_vocabulary_supports(string? arch, string? tokens, string? tokenizerModel, string expected)
    {
        Assert.Equal(expected, ChatTemplateFallbacks.Choose(arch, tokens?.Split(','), tokenizerModel));
    }

    [Fact]
    public void Choose_uses_the_model_name_for_mistral_sentencepiece_models()
    {
        Assert.Equal("mistral", ChatTemplateFallbacks.Choose("llama", ["<s>", "</s>"], "llama", "Mistral-7B-Instruct-v0.2"));
    }

    [Fact]
    public void Gguf_without_template_reports_the_fallback()
    {
        using var f = GgufFile.Open(Fixtures.Model("tiny-qwen2-f32.gguf"));
        ChatTemplateSelection selection = ChatTemplateFallbacks.Select(f);
        Assert.True(selection.IsFallback);
        Assert.Equal("chatml", selection.Name);
    }

    [Fact]
    public void Gguf_with_template_uses_it()
    {
        byte[] bytes = MetadataOnlyGguf(("general.architecture", "llama"), ("tokenizer.chat_template", "{{ messages[0].content }}!"));
        using var f = GgufFile.FromBytes(bytes);
        ChatTemplateSelection selection = ChatTemplateFallbacks.Select(f);
        Assert.False(selection.IsFallback);
        Assert.Equal("hi!", selection.Template.Render(new[] { new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" } }));
    }

    [Fact]
    public void Tool_use_template_is_chosen_only_with_tools()
    {
        byte[] bytes = MetadataOnlyGguf(("tokenizer.chat_template", "plain"), ("tokenizer.chat_template.tool_use", "tools"));
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal("plain", ChatTemplateFallbacks.Select(f).Template.Render(Array.Empty<object>()));
        ChatTemplateSelection withTools = ChatTemplateFallbacks.Select(f, withTools: true);
        Assert.Equal("tools", withTools.Template.Render(Array.Empty<object>()));
        Assert.Equal("gguf:tool_use", withTools.Name);
    }

    [Fact]
    public void Unknown_fallback_name_is_a_clear_error()
    {
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplateFallbacks.Source("vicuna"));
        Assert.Contains("chatml", ex.Message, StringComparison.Ordinal);
    }

    internal static byte[] MetadataOnlyGguf(params (string Key, string Value)[] kvs)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms, Encoding.UTF8);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write(0UL);
        w.Write((ulong)kvs.Length);
        foreach (var (key, value) in kvs)
        {
            WriteString(w, key);
            w.Write(8u);
            WriteString(w, value);
        }
        w.Flush();
        return ms.ToArray();
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }
}
