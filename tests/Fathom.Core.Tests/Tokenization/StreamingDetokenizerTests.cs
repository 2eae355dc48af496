using Fathom.Tokenization;

namespace Fathom.Tests.Tokenization;

public class StreamingDetokenizerTests
{
    private const string Text = "Grüße 😀👨‍👩‍👧 中文字符 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓";

    [Theory]
    [InlineData("ggml-vocab-llama-spm.gguf")]
    [InlineData("ggml-vocab-llama-bpe.gguf")]
    [InlineData("ggml-vocab-qwen2.gguf")]
    [InlineData("ggml-vocab-gpt-2.gguf")]
    public void Never_emits_half_a_character(string vocab)
    {
        var tok = VocabFixtures.Load(vocab);
        int[] ids = tok.Encode(Text, addSpecial: false);
        var stream = new StreamingDetokenizer(tok, atStartOfText: true);
        var sb = new System.Text.StringBuilder();
        bool heldBack = false;
        foreach (int id in ids)
        {
            string chunk = stream.Push(id);
            Assert.DoesNotContain('\uFFFD', chunk);
            heldBack |= stream.PendingBytes > 0;
            sb.Append(chunk);
        }
        sb.Append(stream.Flush());
        Assert.True(heldBack, "the text should split some character over tokens");
        Assert.Equal(tok.Decode(ids), sb.ToString());
        Assert.Equal(Text, sb.ToString());
    }

    [Fact]
    public void Byte_fallback_tokens_join_into_one_character()
    {
        var tok = VocabFixtures.Load("ggml-vocab-llama-spm.gguf");
        int[] bytes = [.. "😀"u8.ToArray().Select(b => tok.TokenId($"<0x{b:X2}>"))];
        var stream = new StreamingDetokenizer(tok);
        Assert.Equal("", stream.Push(bytes[0]));
        Assert.Equal("", stream.Push(bytes[1]));
        Assert.Equal("", stream.Push(bytes[2]));
        Assert.Equal("😀", stream.Push(bytes[3]));
        Assert.Equal(0, stream.PendingBytes);
    }

    [Fact]
    public void Unfinished_character_flushes_as_replacement()
    {
        var tok = VocabFixtures.Load("ggml-vocab-llama-spm.gguf");
        var stream = new StreamingDetokenizer(tok);
        Assert.Equal("", stream.Push(tok.TokenId("<0xF0>")));
        Assert.Equal("\uFFFDa", stream.Push(tok.TokenId("a")));
        Assert.Equal("", stream.Push(tok.TokenId("<0xE4>")));
        Assert.Equal("\uFFFD", stream.Flush());
    }

    [Fact]
    public void Leading_space_is_stripped_only_at_the_start_of_text()
    {
        var tok = VocabFixtures.Load("ggml-vocab-llama-spm.gguf");
        int hello = tok.TokenId("▁Hello");
        Assert.Equal("Hello", new StreamingDetokenizer(tok, atStartOfText: true).Push(hello));
        Assert.Equal(" Hello", new StreamingDetokenizer(tok).Push(hello));
        var bpe = VocabFixtures.Load("ggml-vocab-llama-bpe.gguf");
        Assert.Equal(" Hello", new StreamingDetokenizer(bpe, atStartOfText: true).Push(bpe.Encode(" Hello", addSpecial: false)[0]));
    }
}
