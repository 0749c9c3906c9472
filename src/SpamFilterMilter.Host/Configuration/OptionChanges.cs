using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// What changed between two readings of one option file, one line per option, in words an administrator checks a
/// reload with: <c>option.dat: spamfilter1_config_file: a.opt -&gt; b.opt</c>. A password's value is never shown.
/// </summary>
internal static class OptionChanges
{
    /// <summary>
    /// The options added, removed or given another value from <paramref name="before"/> to <paramref name="after"/>
    /// (names compared as the option-file syntax does, without case), each line starting with <paramref name="file"/>.
    /// </summary>
    public static IEnumerable<string> Between(string file, IReadOnlyList<OptionLine> before, IReadOnlyList<OptionLine> after)
    {
        var old = before.ToDictionary(l => l.Name, l => l.Value, StringComparer.OrdinalIgnoreCase);
        var now = after.ToDictionary(l => l.Name, l => l.Value, StringComparer.OrdinalIgnoreCase);
        foreach (var line in after)
        {
            if (!old.TryGetValue(line.Name, out var was))
            {
                yield return $"{file}: {line.Name} added ({Shown(line.Name, line.Value)})";
            }
            else if (!string.Equals(was, line.Value, StringComparison.Ordinal))
            {
                yield return $"{file}: {line.Name}: {Shown(line.Name, was)} -> {Shown(line.Name, line.Value)}";
            }
        }

        foreach (var line in before.Where(l => !now.ContainsKey(l.Name)))
        {
            yield return $"{file}: {line.Name} removed (was {Shown(line.Name, line.Value)})";
        }
    }

    // SOCKS_PASSWORD, LDAP_BIND_PASSWORD: the log a reload writes must not hold them.
    private static string Shown(string name, string value) =>
        name.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase) ? "value not shown" : LogText.Quote(value);
}
