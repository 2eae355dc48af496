namespace Fathom.Tests;

/// <summary>Locates ../shared/fixtures (beside the repository root) from the test's working directory.</summary>
internal static class Fixtures
{
    public static string Root => TestSupport.FixturePaths.Fixtures;

    public static string Models => Path.Combine(Root, "models");
    public static string Vocab => Path.Combine(Root, "vocab");
    public static string Golden => Path.Combine(Root, "golden");
    public static string ChatTemplates => Path.Combine(Root, "chat-templates");
    public static string Text => Path.Combine(Root, "text");

    public static string Model(string name) => Path.Combine(Models, name);
}
