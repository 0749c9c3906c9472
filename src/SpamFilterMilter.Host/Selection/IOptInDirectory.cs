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
