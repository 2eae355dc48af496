using System.Diagnostics;
using CsCheck;
using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class GitIgnoreTests
{
    private static bool Ignored(string gitignore, string path, bool isDir = false)
    {
        var g = new GitIgnore();
        g.Add("", gitignore);
        return g.IsIgnored(path, isDir);
    }

    [Theory]
    // A pattern without a slash matches the name at any depth.
    [InlineData("*.log", "a.log", false, true)]
    [InlineData("*.log", "deep/down/a.log", false, true)]
    [InlineData("*.log", "a.log.txt", false, false)]
    [InlineData("foo", "x/foo", false, true)]
    [InlineData("foo", "x/foo/bar.txt", false, true)] // inside an ignored directory
    // A slash anywhere but the end anchors the pattern at the .gitignore's directory.
    [InlineData("/foo", "foo", false, true)]
    [InlineData("/foo", "x/foo", false, false)]
    [InlineData("doc/frotz", "doc/frotz", false, true)]
    [InlineData("doc/frotz", "a/doc/frotz", false, false)]
    [InlineData("doc/*.txt", "doc/a.txt", false, true)]
    [InlineData("doc/*.txt", "doc/sub/a.txt", false, false)] // * does not cross '/'
    // Trailing slash: directories only.
    [InlineData("build/", "build", true, true)]
    [InlineData("build/", "build", false, false)]
    [InlineData("build/", "src/build/x.o", false, true)]
    [InlineData("frotz/", "a/frotz/b.txt", false, true)]
    // ** forms.
    [InlineData("**/foo", "foo", false, true)]
    [InlineData("**/foo", "a/b/foo", false, true)]
    [InlineData("**/foo/bar", "x/foo/bar", false, true)]
    [InlineData("abc/**", "abc/x/y", false, true)]
    [InlineData("abc/**", "abc", true, false)]
    [InlineData("a/**/b", "a/b", false, true)]
    [InlineData("a/**/b", "a/x/y/b", false, true)]
    [InlineData("a/**/b", "a/xb", false, false)]
    [InlineData("a**b", "axyb", false, true)] // not between slashes: a plain *
    [InlineData("a**b", "ax/yb", false, false)]
    // ?, ranges, classes.
    [InlineData("?.c", "a.c", false, true)]
    [InlineData("?.c", "ab.c", false, false)]
    [InlineData("[a-c]x", "bx", false, true)]
    [InlineData("[a-c]x", "dx", false, false)]
    [InlineData("[!a-c]x", "dx", false, true)]
    [InlineData("[^a-c]x", "ax", false, false)]
    [InlineData("[[:digit:]]*", "9lives", false, true)]
    [InlineData("[]]", "]", false, true)]
    // Escapes, comments, trailing spaces.
    [InlineData("\\#file", "#file", false, true)]
    [InlineData("#file", "#file", false, false)]
    [InlineData("\\!important", "!important", false, true)]
    [InlineData("a\\*", "a*", false, true)]
    [InlineData("a\\*", "ab", false, false)]
    [InlineData("trail   ", "trail", false, true)]
    [InlineData("space\\ ", "space ", false, true)]
    [InlineData("space\\ ", "space", false, false)]
    public void Patterns_match_as_git_matches_them(string pattern, string path, bool isDir, bool expected)
    {
        Assert.Equal(expected, Ignored(pattern, path, isDir));
    }

    [Fact]
    public void The_last_matching_rule_wins_and_negation_re_includes()
    {
        const string rules = "*.txt\n!keep.txt\n";
        Assert.True(Ignored(rules, "a.txt"));
        Assert.False(Ignored(rules, "keep.txt"));
        Assert.True(Ignored("!keep.txt\n*.txt\n", "keep.txt"));
    }

    [Fact]
    public void A_file_in_an_ignored_directory_cannot_be_re_included()
    {
        Assert.True(Ignored("build/\n!build/keep.txt\n", "build/keep.txt"));
        // …but ignoring the directory's contents (not the directory) lets a negation through.
        Assert.False(Ignored("build/*\n!build/keep.txt\n", "build/keep.txt"));
    }

    [Fact]
    public void Deeper_files_override_shallower_ones_and_only_apply_below_them()
    {
        var g = new GitIgnore();
        g.Add("", "*.gen\n");
        g.Add("sub", "!*.gen\n/local.txt\n");
        Assert.True(g.IsIgnored("x.gen", false));
        Assert.False(g.IsIgnored("sub/x.gen", false));
        Assert.True(g.IsIgnored("sub/local.txt", false));
        Assert.False(g.IsIgnored("local.txt", false));
        Assert.False(g.IsIgnored("sub/deeper/local.txt", false)); // anchored to sub/
    }

    [Fact]
    public void Crlf_lines_and_blank_lines_are_handled()
    {
        Assert.True(Ignored("\r\n\r\n*.o\r\n", "x.o"));
    }

    /// <summary>Random trees and rules, compared with what `git ls-files --others --exclude-standard` says.</summary>
    [Fact]
    public void Walk_agrees_with_git_on_random_trees()
    {
        if (!GitAvailable())
            Assert.Skip("git is not installed");
        string[] names = ["a", "b", "ab", "x.txt", "y.md", "z.c"];
        string[] patternParts = ["a", "b", "ab", "*", "?", "*.txt", "x.*", "[ab]", "**", "y.md", "z.c", "[!a]*"];
        var genName = Gen.OneOf(names);
        var genPath = genName.Array[1, 4].Select(p => string.Join('/', p));
        var genPattern = Gen.Select(Gen.Bool, Gen.Bool, Gen.Bool, Gen.OneOf(patternParts).Array[1, 3])
            .Select((neg, lead, trail, parts) => (neg ? "!" : "") + (lead ? "/" : "") + string.Join('/', parts) + (trail ? "/" : ""));
        var genDir = Gen.OneOf("", "a", "b", "a/b");
        Gen.Select(genPath.Array[1, 10], Gen.Select(genDir, genPattern.Array[1, 4]).Array[1, 3]).Sample((paths, ignores) =>
        {
            using var tree = new TempTree();
            var files = new HashSet<string>(StringComparer.Ordinal);
            foreach (string p in paths)
            {
                // A path cannot be both a file and a directory.
                if (files.Any(f => f.StartsWith(p + "/", StringComparison.Ordinal) || p.StartsWith(f + "/", StringComparison.Ordinal)))
                    continue;
                files.Add(p);
                tree.Write(p, "x\n");
            }
            foreach (var (dir, patterns) in ignores)
            {
                if (files.Contains(dir) || files.Any(f => dir.StartsWith(f + "/", StringComparison.Ordinal)))
                    continue;
                tree.Write(dir.Length == 0 ? ".gitignore" : dir + "/.gitignore", string.Join('\n', patterns) + "\n");
            }
            var expected = Git(tree.Root, "init", "-q") is null ? null : Git(tree.Root, "ls-files", "--others", "--exclude-standard");
            Assert.NotNull(expected);
            var gitFiles = expected!.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(f => Path.GetFileName(f) != ".gitignore").Order(StringComparer.Ordinal).ToList();
            var ours = RepoWalker.Walk(tree.Root, cancellation: TestContext.Current.CancellationToken).Files.Select(f => f.Path).ToList();
            Assert.True(gitFiles.SequenceEqual(ours),
                $"rules {string.Join(" | ", ignores.Select(i => $"{i.Item1}: {string.Join(", ", i.Item2)}"))}\ngit:  {string.Join(' ', gitFiles)}\nours: {string.Join(' ', ours)}");
        }, iter: 60, threads: 1);
    }

    private static bool GitAvailable() => Git(Path.GetTempPath(), "--version") is not null;

    private static string? Git(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["GIT_CONFIG_GLOBAL"] = "/dev/null";
        psi.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        try
        {
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
