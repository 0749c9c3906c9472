namespace SpamFilterMilter.ReferenceHost;

/// <summary>Finds files of the repository whether the tool runs from the repository root or from its build folder.</summary>
internal static class RepositoryPaths
{
    /// <summary>
    /// <paramref name="relative"/> under the current directory if it exists there, else under the
    /// nearest parent of the tool's own folder that has it; else relative to the current directory.
    /// </summary>
    public static DirectoryInfo Find(string relative)
    {
        var here = new DirectoryInfo(Path.Combine(Environment.CurrentDirectory, relative));
        if (here.Exists)
        {
            return here;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = new DirectoryInfo(Path.Combine(dir.FullName, relative));
            if (candidate.Exists)
            {
                return candidate;
            }
        }

        return here;
    }
}
