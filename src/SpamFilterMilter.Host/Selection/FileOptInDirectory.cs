using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Selection;

/// <summary>
/// The embedded default directory: users and domains from one LDIF file (RFC 2849, content records only),
/// so the same file can be loaded into an LDAP server with <c>ldapadd</c>. Entries are separated by blank
/// lines and start with <c>dn:</c>; <c>attribute: value</c> (or <c>attribute:: base64</c>) per line; a line
/// starting with one space continues the previous one (a comment too); <c>#</c> starts a comment line. A user is the entry
/// with the address in one of DIRECTORY_ADDRESS_ATTRIBUTES, a domain the entry with the domain name in one
/// of DIRECTORY_DOMAIN_ATTRIBUTES (both compared case-insensitively). The file is read once, when loaded.
/// </summary>
public sealed class FileOptInDirectory : IOptInDirectory
{
    private readonly Dictionary<string, Entry> _users;
    private readonly Dictionary<string, Entry> _domains;

    private FileOptInDirectory(string path, Dictionary<string, Entry> users, Dictionary<string, Entry> domains)
    {
        FilePath = path;
        _users = users;
        _domains = domains;
    }

    /// <summary>The file read.</summary>
    public string FilePath { get; }

    /// <summary>
    /// Reads the directory at <paramref name="path"/>. A malformed line, or an address or domain that two
    /// entries claim, is a <see cref="SpamFilterConfigurationException"/> naming the file and line.
    /// </summary>
    public static FileOptInDirectory Load(string path, IReadOnlyList<string>? addressAttributes = null, IReadOnlyList<string>? domainAttributes = null)
    {
        var (fullPath, lines) = ConfigurationFile.ReadLines(path, "directory file");
        var users = new Dictionary<string, Entry>(StringComparer.OrdinalIgnoreCase);
        var domains = new Dictionary<string, Entry>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in ReadEntries(fullPath, lines))
        {
            Index(fullPath, entry, addressAttributes ?? DirectoryOptions.DefaultAddressAttributes, users, "address");
            Index(fullPath, entry, domainAttributes ?? DirectoryOptions.DefaultDomainAttributes, domains, "domain");
        }

        return new FileOptInDirectory(fullPath, users, domains);
    }

    /// <inheritdoc />
    public Task<DirectoryEntry?> FindUserAsync(string address, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken = default) =>
        Task.FromResult(_users.TryGetValue(address, out var entry) ? entry.Project(attributes) : null);

    /// <inheritdoc />
    public Task<DirectoryEntry?> FindDomainAsync(string domain, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken = default) =>
        Task.FromResult(_domains.TryGetValue(domain, out var entry) ? entry.Project(attributes) : null);

    /// <inheritdoc />
    public override string ToString() => $"file {FilePath}";

    private static void Index(string path, Entry entry, IReadOnlyList<string> attributes, Dictionary<string, Entry> index, string what)
    {
        foreach (var attribute in attributes)
        {
            foreach (var value in entry.Values(attribute))
            {
                if (index.TryGetValue(value, out var other) && !ReferenceEquals(other, entry))
                {
                    throw new SpamFilterConfigurationException(path, entry.Line, attribute,
                        $"{what} {value} of {entry.Dn} is also claimed by {other.Dn} (line {other.Line})");
                }

                index[value] = entry;
            }
        }
    }

    private static IEnumerable<Entry> ReadEntries(string path, string[] lines)
    {
        Entry? current = null;
        var logical = new List<(string Text, int Line)>();
        var inComment = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith(' ') && (inComment || logical.Count > 0))
            {
                // RFC 2849 continuation: of the comment when the line before was one (comments may wrap too).
                if (!inComment)
                {
                    logical[^1] = (logical[^1].Text + line[1..], logical[^1].Line);
                }

                continue;
            }

            inComment = line.StartsWith('#');
            if (!inComment)
            {
                logical.Add((line, i + 1));
            }
        }

        foreach (var (text, line) in logical)
        {
            if (text.Trim().Length == 0)
            {
                if (current is not null)
                {
                    yield return current;
                    current = null;
                }

                continue;
            }

            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new SpamFilterConfigurationException(path, line, null, "not an LDIF line: expected attribute: value");
            }

            var attribute = text[..colon].Trim();
            var semicolon = attribute.IndexOf(';', StringComparison.Ordinal);
            if (semicolon > 0)
            {
                attribute = attribute[..semicolon]; // attribute options (mail;lang-en) do not matter here
            }

            var value = Value(path, line, attribute, text[(colon + 1)..]);
            if (current is null)
            {
                if (attribute.Equals("version", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (!attribute.Equals("dn", StringComparison.OrdinalIgnoreCase))
                {
                    throw new SpamFilterConfigurationException(path, line, attribute, "an entry must start with a dn: line");
                }

                current = new Entry(value, line);
                continue;
            }

            if (attribute.Equals("changetype", StringComparison.OrdinalIgnoreCase))
            {
                throw new SpamFilterConfigurationException(path, line, attribute, "change records are not supported: list entries only");
            }

            current.Add(attribute, value);
        }

        if (current is not null)
        {
            yield return current;
        }
    }

    private static string Value(string path, int line, string attribute, string rest)
    {
        if (rest.StartsWith(':'))
        {
            try
            {
                return Encoding.UTF8.GetString(Convert.FromBase64String(rest[1..].Trim()));
            }
            catch (FormatException e)
            {
                throw new SpamFilterConfigurationException(path, line, attribute, "the value after :: is not valid base64", e);
            }
        }

        if (rest.StartsWith('<'))
        {
            throw new SpamFilterConfigurationException(path, line, attribute, "values read from URLs (:<) are not supported");
        }

        return rest.Trim();
    }

    /// <summary>One entry of the file, every attribute kept.</summary>
    private sealed class Entry(string dn, int line)
    {
        private readonly Dictionary<string, List<string>> _attributes = new(StringComparer.OrdinalIgnoreCase);

        public string Dn { get; } = dn;

        public int Line { get; } = line;

        public void Add(string attribute, string value)
        {
            if (!_attributes.TryGetValue(attribute, out var values))
            {
                _attributes[attribute] = values = [];
            }

            values.Add(value);
        }

        public List<string> Values(string attribute) => _attributes.GetValueOrDefault(attribute) ?? [];

        public DirectoryEntry Project(IReadOnlyCollection<string> attributes) =>
            new(Dn, attributes.Select(a => KeyValuePair.Create(a, (IReadOnlyList<string>)Values(a))));
    }
}
