namespace SpamFilterMilter.Testing;

/// <summary>
/// The body files this process holds open in a folder. On Linux a spilled body's file has no name (it is unlinked as
/// soon as it is made), so it is found by its open handle in /proc/self/fd, which also proves that its disk space is
/// freed once the handle is gone; elsewhere, by its name in the folder.
/// </summary>
public static class SpillFiles
{
    /// <summary>The handles (Linux) or files open on a body file in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<string> Open(string folder)
    {
        var prefix = Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar;
        if (!Directory.Exists("/proc/self/fd"))
        {
            return Directory.Exists(folder) ? Directory.GetFiles(folder) : [];
        }

        var open = new List<string>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith(prefix, StringComparison.Ordinal))
                {
                    open.Add(fd);
                }
            }
            catch (IOException)
            {
                // Closed while we looked: not open.
            }
        }

        return open;
    }
}
