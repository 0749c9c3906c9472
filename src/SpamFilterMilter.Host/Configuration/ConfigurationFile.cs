using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>Reads the host's line-based configuration files (the channel table, the LDIF directory).</summary>
internal static class ConfigurationFile
{
    /// <summary>
    /// The full path of <paramref name="path"/> and its lines; a file that cannot be read is a
    /// <see cref="SpamFilterConfigurationException"/> naming it.
    /// </summary>
    public static (string FullPath, string[] Lines) ReadLines(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        try
        {
            return (fullPath, File.ReadAllLines(fullPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpamFilterConfigurationException(fullPath, 0, null, $"cannot read the file: {e.Message}", e);
        }
    }
}
