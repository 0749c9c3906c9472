namespace SpamFilterMilter.Host.Selection;

/// <summary>A user or domain entry: its name (a DN) and the attribute values asked for.</summary>
public sealed class DirectoryEntry
{
    private readonly Dictionary<string, IReadOnlyList<string>> _attributes;

    /// <summary>Creates an entry; attribute names compare case-insensitively, as in LDAP.</summary>
    public DirectoryEntry(string name, IEnumerable<KeyValuePair<string, IReadOnlyList<string>>> attributes)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(attributes);
        Name = name;
        _attributes = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (attribute, values) in attributes)
        {
            _attributes[attribute] = values;
        }
    }

    /// <summary>The entry's name (its DN).</summary>
    public string Name { get; }

    /// <summary>The values of <paramref name="attribute"/>; empty when the entry has none.</summary>
    public IReadOnlyList<string> Values(string attribute) => _attributes.GetValueOrDefault(attribute) ?? [];

    /// <inheritdoc />
    public override string ToString() => Name;
}
