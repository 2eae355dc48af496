using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class WildmatchTests
{
    [Theory]
    [InlineData("foo", "foo", true)]
    [InlineData("foo", "bar", false)]
    [InlineData("", "", true)]
    [InlineData("???", "abc", true)]
    [InlineData("*", "abc", true)]
    [InlineData("*", "a/b", false)]
    [InlineData("f*", "foo", true)]
    [InlineData("*f", "foo", false)]
    [InlineData("*foo*", "foo", true)]
    [InlineData("*ob*a*r*", "foobar", true)]
    [InlineData("\\*", "*", true)]
    [InlineData("**", "a/b/c", true)]
    [InlineData("**/c", "a/b/c", true)]
    [InlineData("a/**", "a/b/c", true)]
    [InlineData("a/**/", "a/b/", true)]
    [InlineData("*/*", "a/b", true)]
    [InlineData("*/*", "a/b/c", false)]
    [InlineData("[a-z]", "q", true)]
    [InlineData("[a-z]", "/", false)]
    [InlineData("[!/]", "/", false)]
    [InlineData("[\\]]", "]", true)]
    [InlineData("[a-]", "-", true)]
    [InlineData("[[:upper:]]", "Q", true)]
    [InlineData("[[:upper:]]", "q", false)]
    [InlineData("[unclosed", "u", false)]
    public void Matches_like_git_wildmatch_with_pathname(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Wildmatch.Match(pattern, text));
    }
}
