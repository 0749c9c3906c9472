using System.Buffers;
using System.Text.Unicode;

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
    /// <summary>
    /// Reads and splits <paramref name="path"/>; throws <see cref="SpamFilterConfigurationException"/>, also for a folder
    /// named as the file and for a file that is not UTF-8 text (which would otherwise be read as replacement characters).
    /// </summary>
    public static IReadOnlyList<OptionLine> Read(string path) => Parse(ReadText(path, "option file"), path);

    /// <summary>
    /// Reads and splits <paramref name="path"/> as <see cref="Read(string)"/> does, but a line that cannot be split is
    /// added to <paramref name="problems"/> and the lines that could are returned, so that an administrator's check
    /// goes on to judge them (a file that cannot be read at all is still thrown).
    /// </summary>
    public static IReadOnlyList<OptionLine> Read(string path, ICollection<SpamFilterConfigurationException> problems) =>
        Split(ReadText(path, "option file"), path, problems);

    /// <summary>
    /// The text of the configuration file at <paramref name="path"/>, strictly UTF-8 (a byte-order mark is skipped):
    /// a folder, a file that cannot be read and one that is not UTF-8 are each a <see cref="SpamFilterConfigurationException"/>
    /// naming the file and saying which (<paramref name="what"/> names the kind of file, e.g. <c>option file</c>).
    /// </summary>
    public static string ReadText(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            throw new SpamFilterConfigurationException(path, 0, null, $"is a folder; the {what} must be a file");
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpamFilterConfigurationException(path, 0, null, $"cannot read the {what}: {e.Message}", e);
        }

        // Strict: a file in Latin-1 or UTF-16 would otherwise be read with replacement characters and fail later
        // as some option's bad value, or not fail at all.
        var content = bytes.AsSpan(bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0);
        var chars = new char[content.Length];
        if (Utf8.ToUtf16(content, chars, out var read, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            var line = 1 + content[..read].Count((byte)'\n');
            throw new SpamFilterConfigurationException(path, line, null,
                $"is not UTF-8 text: byte 0x{content[read]:X2} cannot be read as UTF-8 (save the {what} as UTF-8)");
        }

        return new string(chars, 0, written);
    }

    /// <summary>
    /// Splits option-file <paramref name="text"/>; <paramref name="path"/> names it in errors. Reads on after a bad line:
    /// the first is thrown, carrying the others (<see cref="SpamFilterConfigurationException.MoreProblems"/>).
    /// </summary>
    public static IReadOnlyList<OptionLine> Parse(string text, string path)
    {
        var problems = new List<SpamFilterConfigurationException>();
        var lines = Split(text, path, problems);
        return problems.Count > 0 ? throw SpamFilterConfigurationException.Combine(problems) : lines;
    }

    /// <summary>
    /// The name among <paramref name="known"/> that <paramref name="name"/> is most likely a mistyping of (two letters
    /// wrong, missing, extra or swapped at most, and fewer than half of them), compared case-insensitively; the first
    /// such name of the fewest changes, or null. An unknown option's error says "did you mean" with it.
    /// </summary>
    public static string? ClosestName(string name, IEnumerable<string> known)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(known);
        string? closest = null;
        var typed = name.ToUpperInvariant();
        var fewest = Math.Min(2, (name.Length - 1) / 2);
        foreach (var candidate in known)
        {
            // The first within the limit is taken; a later one only if it is nearer. A name the same but for case is known.
            var changes = Changes(typed, candidate.ToUpperInvariant(), fewest);
            if (changes > 0 && (closest is null ? changes <= fewest : changes < fewest))
            {
                (closest, fewest) = (candidate, changes);
            }
        }

        return closest;
    }

    /// <summary>
    /// The letters to change, insert, delete or swap with their neighbour to make <paramref name="a"/> into
    /// <paramref name="b"/> (optimal string alignment); anything above <paramref name="limit"/> is limit + 1.
    /// </summary>
    private static int Changes(string a, string b, int limit)
    {
        if (Math.Abs(a.Length - b.Length) > limit)
        {
            return limit + 1;
        }

        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return Math.Min(d[a.Length, b.Length], limit + 1);
    }

    /// <summary>The lines of <paramref name="text"/> that split into option and value; the others go to <paramref name="problems"/>.</summary>
    private static List<OptionLine> Split(string text, string path, ICollection<SpamFilterConfigurationException> problems)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(problems);
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
                problems.Add(new SpamFilterConfigurationException(path, number, null, "expected option=value, but the line has no '=' (its text is not shown: it may hold a password)"));
                continue;
            }

            var name = line[..equals].TrimEnd();
            if (name.Length == 0)
            {
                problems.Add(new SpamFilterConfigurationException(path, number, null, "the option name before '=' is empty"));
                continue;
            }

            if (seen.TryGetValue(name, out var earlier))
            {
                problems.Add(new SpamFilterConfigurationException(path, number, name.ToUpperInvariant(), $"given twice (first on line {earlier})"));
                continue;
            }

            seen[name] = number;
            lines.Add(new OptionLine(name, line[(equals + 1)..].TrimStart(), number));
        }

        return lines;
    }
}
