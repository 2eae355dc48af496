namespace Fathom.TestSupport;

/// <summary>Finds the repository root and ../shared/fixtures beside it, for every test project (linked source).</summary>
internal static class FixturePaths
{
    private static readonly Lazy<string> FixtureRoot = new(LocateFixtures);

    /// <summary>The fixture folder: $FATHOM_FIXTURES when set, else ../shared/fixtures beside the repository.</summary>
    public static string Fixtures => FixtureRoot.Value;

    /// <summary>The repository root (the folder holding Fathom.slnx).</summary>
    public static string Repository
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Fathom.slnx")))
                    return dir.FullName;
            }
            throw new DirectoryNotFoundException("Fathom.slnx not found above the test directory");
        }
    }

    private static string LocateFixtures()
    {
        string? env = Environment.GetEnvironmentVariable("FATHOM_FIXTURES");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env))
            return env;
        string candidate = Path.GetFullPath(Path.Combine(Repository, "..", "shared", "fixtures"));
        if (Directory.Exists(candidate))
            return candidate;
        throw new DirectoryNotFoundException("../shared/fixtures not found beside the repository (set FATHOM_FIXTURES).");
    }
}
