namespace Fathom.Benchmarks;

internal static class BenchPaths
{
    /// <summary>A file under ../shared/fixtures, found by walking up from the current directory.</summary>
    public static string Fixture(params string[] parts)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine([dir.FullName, "shared", "fixtures", .. parts]);
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException("fixture not found: " + string.Join('/', parts));
    }
}
