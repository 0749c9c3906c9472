namespace SpamFilterMilter.Testing;

/// <summary>
/// Files of the repository (etc/, docs/, tools/, option.dat.sample, README.md) from a test's build folder: the
/// nearest folder above it that holds SpamFilterMilter.sln.
/// </summary>
public static class Repository
{
    /// <summary>The repository's root folder.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary><paramref name="relative"/> (with / between folders) under the repository's root.</summary>
    public static string Path(string relative) => System.IO.Path.GetFullPath(System.IO.Path.Combine(Root, relative));

    private static string FindRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(folder.FullName, "SpamFilterMilter.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds SpamFilterMilter.sln: the tests run from a build inside the repository.");
    }
}
