using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Options;

/// <summary>
/// Reads Messaging Server option files into Microsoft.Extensions.Configuration: one
/// <c>option=value</c> per line, blanks around both trimmed, names case-insensitive, lines starting
/// with <c>!</c> or <c>#</c> are comments, empty lines ignored. Remembers the line of every option
/// so that a later validation error can point at it.
/// </summary>
internal sealed class OptionFileConfigurationSource(string path) : IConfigurationSource
{
    public string Path { get; } = path;

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new OptionFileConfigurationProvider(Path);
}

/// <inheritdoc cref="OptionFileConfigurationSource"/>
internal sealed class OptionFileConfigurationProvider(string path) : ConfigurationProvider
{
    private readonly Dictionary<string, int> _lines = new(StringComparer.OrdinalIgnoreCase);

    public string Path { get; } = path;

    /// <summary>The 1-based line each option was read from.</summary>
    public IReadOnlyDictionary<string, int> Lines => _lines;

    public override void Load()
    {
        string text;
        try
        {
            text = File.ReadAllText(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpamFilterConfigurationException(Path, 0, null, $"cannot read the option file: {e.Message}", e);
        }

        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        _lines.Clear();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] is '!' or '#')
            {
                continue;
            }

            var equals = line.IndexOf('=');
            if (equals < 0)
            {
                throw new SpamFilterConfigurationException(Path, lineNumber, null, $"expected option=value, found \"{Shorten(line)}\"");
            }

            var name = line[..equals].TrimEnd();
            if (name.Length == 0)
            {
                throw new SpamFilterConfigurationException(Path, lineNumber, null, "the option name before '=' is empty");
            }

            if (_lines.TryGetValue(name, out var earlier))
            {
                throw new SpamFilterConfigurationException(Path, lineNumber, name.ToUpperInvariant(), $"given twice (first on line {earlier})");
            }

            data[name] = line[(equals + 1)..].TrimStart();
            _lines[name] = lineNumber;
        }

        Data = data;
    }

    private static string Shorten(string line) => line.Length <= 40 ? line : line[..40] + "...";
}

/// <summary>Registration helper in the Microsoft.Extensions.Configuration style.</summary>
internal static class OptionFileConfigurationExtensions
{
    public static IConfigurationBuilder AddOptionFile(this IConfigurationBuilder builder, string path) =>
        builder.Add(new OptionFileConfigurationSource(path));
}
