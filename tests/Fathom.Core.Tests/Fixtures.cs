namespace Fathom.Tests;

/// <summary>Locates ../shared/fixtures (beside the repository root) from the test's working directory.</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> RootPath = new(Locate);

    public static string Root => RootPath.Value;

    public static string Models => Path.Combine(Root, "models");
    public static string Vocab => Path.Combine(Root, "vocab");
    public static string Golden => Path.Combine(Root, "golden");
    public static string ChatTemplates => Path.Combine(Root, "chat-templates");
    public static string Text => Path.Combine(Root, "text");

    public static string Model(string name) => Path.Combine(Models, name);

    private static string Locate()
    {
        string? env = Environment.GetEnvironmentVariable("FATHOM_FIXTURES");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env))
            return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Fathom.slnx")))
            {
                string candidate = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "fixtures"));
                if (Directory.Exists(candidate))
                    return candidate;
            }
        }
        throw new DirectoryNotFoundException("../shared/fixtures not found beside the repository (set FATHOM_FIXTURES).");
    }
}
