using System.Text;

namespace Fathom.Context;

/// <summary>A text file found in a repository: its path relative to the root ('/'-separated) and its content.</summary>
public sealed record RepoFile(string Path, string Content);

/// <summary>What <see cref="RepoWalker.Walk"/> found: text files (sorted by path, ordinal) and what it skipped, with why.</summary>
public sealed record RepoScan(IReadOnlyList<RepoFile> Files, IReadOnlyList<DroppedItem> Skipped);

/// <summary>Which files a walk takes.</summary>
public sealed record WalkOptions
{
    /// <summary>Globs (gitignore syntax: no slash matches the file name, a slash anchors at the root); when any is given a file must match one, or lie in a directory that does.</summary>
    public IReadOnlyList<string> Include { get; init; } = [];

    /// <summary>Globs (gitignore syntax) of files and directories to leave out.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Files larger than this are skipped as "too large".</summary>
    public long MaxFileBytes { get; init; } = 1 << 20;

    /// <summary>Read .git/info/exclude as git does.</summary>
    public bool UseGitInfoExclude { get; init; } = true;
}

/// <summary>
/// Walks a directory tree as git sees it: .gitignore files (nested, negation, directory patterns) and .git/info/exclude
/// are honoured; .git, vendored and build-output directories, lock files, generated files, binary and non-UTF-8 files
/// are skipped, each with its reason. Symbolic links are not followed.
/// </summary>
public static class RepoWalker
{
    /// <summary>Directory names never descended into: vendored code and build outputs.</summary>
    public static readonly IReadOnlySet<string> SkippedDirectories = new HashSet<string>(StringComparer.Ordinal)
    {
        "node_modules", "vendor", "third_party", "third-party", "thirdparty", "bower_components", "jspm_packages", "Pods", "Carthage",
        ".venv", "venv", "site-packages", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        "bin", "obj", "target", "dist", "build", "out", ".next", ".nuxt", ".gradle", ".vs", ".idea", ".terraform",
        "coverage", ".cache", "TestResults", "BenchmarkDotNet.Artifacts",
    };

    /// <summary>Dependency lock files: long, machine-written, no signal for a reader.</summary>
    public static readonly IReadOnlySet<string> LockFiles = new HashSet<string>(StringComparer.Ordinal)
    {
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock", "Cargo.lock", "poetry.lock",
        "Pipfile.lock", "uv.lock", "pdm.lock", "composer.lock", "Gemfile.lock", "go.sum", "packages.lock.json", "flake.lock",
        "mix.lock", "pubspec.lock", "Podfile.lock", "gradle.lockfile", "conan.lock", "vcpkg-lock.json",
    };

    private static readonly string[] GeneratedSuffixes =
    [
        ".min.js", ".min.css", ".map", ".g.cs", ".g.i.cs", ".designer.cs", ".Designer.cs", ".generated.cs", ".pb.go", ".pb.cc",
        ".pb.h", "_pb2.py", "_pb2_grpc.py", ".pb.ts", "_generated.go",
    ];

    private static readonly string[] BinaryExtensions =
    [
        ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".pdf", ".zip", ".gz", ".tgz", ".xz", ".bz2", ".7z", ".tar", ".jar",
        ".dll", ".exe", ".so", ".dylib", ".a", ".o", ".obj", ".lib", ".pdb", ".class", ".pyc", ".wasm", ".gguf", ".bin", ".safetensors",
        ".woff", ".woff2", ".ttf", ".otf", ".mp3", ".mp4", ".wav", ".ogg", ".mov", ".sqlite", ".db",
    ];

    public static RepoScan Walk(string root, WalkOptions? options = null, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        options ??= new WalkOptions();
        var dir = new DirectoryInfo(root);
        if (!dir.Exists)
            throw new DirectoryNotFoundException($"directory '{root}' not found");
        var include = options.Include.Select(g => ToRule(g, "--include")).ToList();
        var exclude = options.Exclude.Select(g => ToRule(g, "--exclude")).ToList();
        var ignore = new GitIgnore();
        if (options.UseGitInfoExclude)
        {
            string info = Path.Combine(dir.FullName, ".git", "info", "exclude");
            if (File.Exists(info))
                ignore.Add("", File.ReadAllText(info));
        }
        var walk = new Walker(ignore, include, exclude, options.MaxFileBytes, progress, cancellation);
        walk.Directory(dir, "");
        walk.Files.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        walk.Skipped.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return new RepoScan(walk.Files, walk.Skipped);
    }

    private static GitIgnoreRule ToRule(string glob, string option)
    {
        var rules = GitIgnore.Parse("", glob ?? "");
        if (rules.Count != 1 || rules[0].Negated)
            throw new ArgumentException($"{option} '{glob}' is not a glob");
        return rules[0];
    }

    /// <summary>Why a file is not packed, from its name alone; null when the name says nothing.</summary>
    internal static string? SkipByName(string name)
    {
        if (LockFiles.Contains(name))
            return "lock file";
        foreach (string suffix in GeneratedSuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
                return "generated file";
        }
        foreach (string ext in BinaryExtensions)
        {
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase))
                return "binary file";
        }
        return null;
    }

    /// <summary>Decodes a file's bytes if they are text: no NUL in the first 8000 bytes (git's test) and valid UTF-8.</summary>
    internal static string? DecodeText(ReadOnlySpan<byte> bytes, out string reason)
    {
        if (bytes[..Math.Min(bytes.Length, 8000)].IndexOf((byte)0) >= 0)
        {
            reason = "binary file (NUL byte)";
            return null;
        }
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            bytes = bytes[3..];
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            reason = "not UTF-8 text";
            return null;
        }
        reason = "";
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>A header that tools write into generated files.</summary>
    internal static bool LooksGenerated(string content)
    {
        var head = content.AsSpan(0, Math.Min(content.Length, 600));
        return head.Contains("<auto-generated", StringComparison.OrdinalIgnoreCase)
            || head.Contains("DO NOT EDIT", StringComparison.Ordinal)
            || head.Contains("@generated", StringComparison.Ordinal);
    }

    private sealed class Walker(GitIgnore ignore, List<GitIgnoreRule> include, List<GitIgnoreRule> exclude, long maxBytes,
        IProgress<int>? progress, CancellationToken cancellation)
    {
        public readonly List<RepoFile> Files = [];
        public readonly List<DroppedItem> Skipped = [];
        private int _seen;

        public void Directory(DirectoryInfo dir, string relative)
        {
            cancellation.ThrowIfCancellationRequested();
            int added = 0;
            string gitignore = Path.Combine(dir.FullName, ".gitignore");
            if (System.IO.File.Exists(gitignore))
            {
                int before = ignore.Rules.Count;
                ignore.Add(relative, System.IO.File.ReadAllText(gitignore));
                added = ignore.Rules.Count - before;
            }
            FileSystemInfo[] entries;
            try
            {
                entries = dir.GetFileSystemInfos();
            }
            catch (UnauthorizedAccessException)
            {
                Skipped.Add(new DroppedItem(relative + "/", 0, "directory not readable"));
                ignore.RemoveLast(added);
                return;
            }
            Array.Sort(entries, (a, b) => string.CompareOrdinal(a.Name, b.Name));
            foreach (var entry in entries)
            {
                string path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                bool isDir = entry is DirectoryInfo;
                if (entry.Name == ".git")
                    continue;
                if (entry.LinkTarget is not null)
                {
                    Skipped.Add(new DroppedItem(path, 0, "symbolic link"));
                    continue;
                }
                if (ignore.Decide(path, isDir))
                    continue;
                if (exclude.Any(r => r.Matches(path, isDir)))
                {
                    Skipped.Add(new DroppedItem(isDir ? path + "/" : path, 0, "--exclude"));
                    continue;
                }
                if (isDir)
                {
                    if (SkippedDirectories.Contains(entry.Name))
                        Skipped.Add(new DroppedItem(path + "/", 0, "vendored or build output directory"));
                    else
                        Directory((DirectoryInfo)entry, path);
                    continue;
                }
                if (entry.Name == ".gitignore")
                    continue;
                if (include.Count > 0 && !Included(path))
                    continue;
                TakeFile((FileInfo)entry, path);
            }
            ignore.RemoveLast(added);
        }

        /// <summary>A file is included when it or one of its directories matches an --include glob.</summary>
        private bool Included(string path)
        {
            if (include.Any(r => r.Matches(path, false)))
                return true;
            for (int i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1))
            {
                string dir = path[..i];
                if (include.Any(r => r.Matches(dir, true)))
                    return true;
            }
            return false;
        }

        private void TakeFile(FileInfo file, string path)
        {
            if (++_seen % 256 == 0)
                progress?.Report(_seen);
            string? reason = SkipByName(file.Name);
            if (reason is null && file.Length > maxBytes)
                reason = $"too large ({file.Length:N0} bytes > {maxBytes:N0})";
            if (reason is not null)
            {
                Skipped.Add(new DroppedItem(path, 0, reason));
                return;
            }
            byte[] bytes;
            try
            {
                bytes = System.IO.File.ReadAllBytes(file.FullName);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Skipped.Add(new DroppedItem(path, 0, "not readable"));
                return;
            }
            string? text = DecodeText(bytes, out reason);
            if (text is null)
            {
                Skipped.Add(new DroppedItem(path, 0, reason));
                return;
            }
            if (LooksGenerated(text))
            {
                Skipped.Add(new DroppedItem(path, 0, "generated file (header)"));
                return;
            }
            Files.Add(new RepoFile(path, text));
        }
    }
}
