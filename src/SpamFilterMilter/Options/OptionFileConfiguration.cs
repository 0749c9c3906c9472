using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Options;

/// <summary>
/// Reads Messaging Server option files into Microsoft.Extensions.Configuration: one
/// <c>option=value</c> per line, blanks around both trimmed, names case-insensitive, lines starting
/// with <c>!</c> or <c>#</c> are comments, empty lines ignored. Remembers the line of every option
/// so that a later validation error can point at it.
/// </summary>
public sealed class OptionFileConfigurationSource(string path) : IConfigurationSource
{
    /// <summary>The option file's full path.</summary>
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <inheritdoc />
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
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        _lines.Clear();
        foreach (var line in OptionFile.Read(Path))
        {
            data[line.Name] = line.Value;
            _lines[line.Name] = line.Line;
        }

        Data = data;
    }
}

/// <summary>Adds a milter option file to a configuration, in the Microsoft.Extensions.Configuration style.</summary>
public static class OptionFileConfigurationExtensions
{
    /// <summary>Adds the milter option file at <paramref name="path"/> as a configuration source: its options become keys.</summary>
    public static IConfigurationBuilder AddMilterOptionFile(this IConfigurationBuilder builder, string path) =>
        builder.Add(new OptionFileConfigurationSource(path));
}
