namespace SpamFilterMilter.Contract;

/// <summary>One <c>name=value</c> line of an option file, with where it stood.</summary>
/// <param name="Name">The option name as written (compare case-insensitively).</param>
/// <param name="Value">The value, blanks around it removed; may be empty.</param>
/// <param name="Line">The 1-based line number.</param>
public sealed record OptionLine(string Name, string Value, int Line);

/// <summary>
/// Messaging Server's option-file syntax, shared by the host's option.dat and a plug-in's own option
/// file: one <c>name=value</c> per line, blanks around both ignored, lines starting with <c>!</c> or
/// <c>#</c> are comments, empty lines ignored, names case-insensitive and given at most once.
/// Syntax errors name the file and the line; what the names and values mean is the caller's business.
/// </summary>
public static class OptionFile
{
    /// <summary>Reads and splits <paramref name="path"/>; throws <see cref="SpamFilterConfigurationException"/>.</summary>
    public static IReadOnlyList<OptionLine> Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpamFilterConfigurationException(path, 0, null, $"cannot read the option file: {e.Message}", e);
        }

        return Parse(text, path);
    }

    /// <summary>Splits option-file <paramref name="text"/>; <paramref name="path"/> names it in errors.</summary>
    public static IReadOnlyList<OptionLine> Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = new List<OptionLine>();
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '!' or '#')
            {
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                // The line is not quoted: it may be a password line whose '=' was forgotten (SOCKS_PASSWORD, LDAP_BIND_PASSWORD).
                throw new SpamFilterConfigurationException(path, number, null, "expected option=value, but the line has no '=' (its text is not shown: it may hold a password)");
            }

            var name = line[..equals].TrimEnd();
            if (name.Length == 0)
            {
                throw new SpamFilterConfigurationException(path, number, null, "the option name before '=' is empty");
            }

            if (seen.TryGetValue(name, out var earlier))
            {
                throw new SpamFilterConfigurationException(path, number, name.ToUpperInvariant(), $"given twice (first on line {earlier})");
            }

            seen[name] = number;
            lines.Add(new OptionLine(name, line[(equals + 1)..].TrimStart(), number));
        }

        return lines;
    }
}
