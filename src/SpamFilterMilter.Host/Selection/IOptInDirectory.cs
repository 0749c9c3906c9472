namespace SpamFilterMilter.Host.Selection;

/// <summary>
/// Where the host looks up users (LDAP_OPTINX, LDAP_SOURCE_OPTINX) and domains (LDAP_DOMAIN_ATTR_OPTINX).
/// Two implementations ship: <see cref="FileOptInDirectory"/> (the embedded default) and
/// <see cref="LdapOptInDirectory"/>; an MTA may bring its own. Implementations must be thread-safe.
/// </summary>
public interface IOptInDirectory
{
    /// <summary>
    /// The user whose address is <paramref name="address"/> (bare, no angle brackets), with the values of
    /// <paramref name="attributes"/>; null when there is no such user. Throws
    /// <see cref="OptInDirectoryException"/> when the directory cannot be asked.
    /// </summary>
    Task<DirectoryEntry?> FindUserAsync(string address, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken = default);

    /// <summary>
    /// The domain entry for <paramref name="domain"/>, with the values of <paramref name="attributes"/>; null
    /// when there is none. Throws <see cref="OptInDirectoryException"/> when the directory cannot be asked.
    /// </summary>
    Task<DirectoryEntry?> FindDomainAsync(string domain, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken = default);
}

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

/// <summary>
/// The directory could not be asked (server down, bind refused, timeout). Not a configuration error: the
/// host answers the message with a temporary failure so that it is retried, never delivered unfiltered
/// (it treats anything else a directory throws, but cancellation, the same way). The host logs it at Warning,
/// so its message never holds a password nor, in the directories that ship, the address looked up.
/// </summary>
public sealed class OptInDirectoryException(string message, Exception? inner = null) : Exception(message, inner);
