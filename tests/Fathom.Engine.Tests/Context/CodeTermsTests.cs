using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class CodeTermsTests
{
    [Theory]
    [InlineData("parseHTTPResponse2Body", "parse http response 2 body parsehttpresponse2body")]
    [InlineData("snake_case_name", "snake case name snakecasename")]
    [InlineData("PascalCase", "pascal case pascalcase")]
    [InlineData("XMLHttpRequest", "xml http request xmlhttprequest")]
    [InlineData("simple", "simple")]
    [InlineData("ALL_CAPS", "all caps allcaps")]
    [InlineData("v2", "v 2 v2")]
    [InlineData("a.b(c) + d_e", "a b c d e de")]
    [InlineData("", "")]
    public void Identifiers_split_at_case_underscore_and_digits(string text, string expected)
    {
        Assert.Equal(expected.Split(' ', StringSplitOptions.RemoveEmptyEntries), CodeTerms.Split(text));
    }

    [Fact]
    public void Non_ascii_letters_are_words()
    {
        Assert.Equal(["größe", "wert", "größewert"], CodeTerms.Split("größeWert"));
    }
}
