using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>Reads the host's line-based configuration files (the channel table, the LDIF directory).</summary>
internal static class ConfigurationFile
{
    /// <summary>
    /// The full path of <paramref name="path"/> and its lines; a file that cannot be read, a folder and a file that is
    /// not UTF-8 are each a <see cref="SpamFilterConfigurationException"/> naming it (<see cref="OptionFile.ReadText"/>).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="what">What the file is, for the error (<c>channel table</c>).</param>
    public static (string FullPath, string[] Lines) ReadLines(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        var lines = new List<string>();
        using var reader = new StringReader(OptionFile.ReadText(fullPath, what));
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        return (fullPath, [.. lines]);
    }
}
