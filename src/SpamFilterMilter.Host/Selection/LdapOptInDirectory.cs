using System.DirectoryServices.Protocols;
using System.Globalization;
using System.Net;
using System.Text;
using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Selection;

/// <summary>
/// Users and domains from an LDAP server (System.DirectoryServices.Protocols; on Linux it uses the system's
/// OpenLDAP client library). A user is found by a subtree search below LDAP_BASE_DN for
/// <c>(|(mail=A)(mailAlternateAddress=A)(mailEquivalentAddress=A))</c> (DIRECTORY_ADDRESS_ATTRIBUTES), a
/// domain by <c>(associatedDomain=D)</c> (DIRECTORY_DOMAIN_ATTRIBUTES); values are escaped as RFC 4515
/// requires. When several entries match, their values are merged. One connection, opened on first use
/// (simple bind as LDAP_BIND_DN, or anonymous) and opened again after a failure. The bind password is
/// never logged and never part of an exception message.
/// </summary>
public sealed class LdapOptInDirectory : IOptInDirectory, IDisposable
{
    private readonly DirectoryOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private LdapConnection? _connection;

    /// <summary>Creates the directory; nothing is contacted until the first lookup.</summary>
    public LdapOptInDirectory(DirectoryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.LdapHost is null || options.LdapBaseDn is null)
        {
            throw new ArgumentException("LDAP_HOST and LDAP_BASE_DN are required for an LDAP directory.", nameof(options));
        }

        _options = options;
    }

    /// <inheritdoc />
    public Task<DirectoryEntry?> FindUserAsync(string address, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken = default) =>
        SearchAsync("user", _options.AddressAttributes, address, attributes, cancellationToken);

    /// <inheritdoc />
    public Task<DirectoryEntry?> FindDomainAsync(string domain, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken = default) =>
        SearchAsync("domain", _options.DomainAttributes, domain, attributes, cancellationToken);

    /// <summary>The server, base and bind DN; never the password.</summary>
    public override string ToString() => "LDAP " + _options;

    /// <inheritdoc />
    public void Dispose()
    {
        _connection?.Dispose();
        _connection = null;
        _gate.Dispose();
    }

    /// <summary>An RFC 4515 assertion value: <c>* ( ) \ NUL</c> and non-ASCII bytes as <c>\XX</c>.</summary>
    internal static string EscapeFilterValue(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is (byte)'*' or (byte)'(' or (byte)')' or (byte)'\\' or 0 || b >= 0x80)
            {
                text.Append('\\').Append(b.ToString("x2", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append((char)b);
            }
        }

        return text.ToString();
    }

    private async Task<DirectoryEntry?> SearchAsync(string what, IReadOnlyList<string> keys, string value, IReadOnlyCollection<string> attributes, CancellationToken cancellationToken)
    {
        var escaped = EscapeFilterValue(value);
        var terms = string.Concat(keys.Select(k => $"({k}={escaped})"));
        var filter = keys.Count == 1 ? terms : $"(|{terms})";
        // "1.1" asks for no attributes at all (RFC 4511): an empty list would return every one.
        var request = new SearchRequest(_options.LdapBaseDn, filter, SearchScope.Subtree, attributes.Count == 0 ? ["1.1"] : [.. attributes])
        {
            TimeLimit = _options.LdapTimeout,
        };

        SearchResponse response;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = _connection ??= await Task.Run(Connect, cancellationToken).ConfigureAwait(false);
            response = (SearchResponse)await Task.Factory.FromAsync(
                    (callback, state) => connection.BeginSendRequest(request, _options.LdapTimeout, PartialResultProcessing.NoPartialResultSupport, callback, state),
                    connection.EndSendRequest,
                    state: null)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is LdapException or DirectoryException or InvalidOperationException or TimeoutException)
        {
            // The connection may be broken: open a new one for the next lookup.
            _connection?.Dispose();
            _connection = null;
            throw new OptInDirectoryException($"{this}: looking up {what} {value}: {Describe(e)}", e);
        }
        finally
        {
            _gate.Release();
        }

        if (response.Entries.Count == 0)
        {
            return null;
        }

        var names = new List<string>();
        var values = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (SearchResultEntry entry in response.Entries)
        {
            names.Add(entry.DistinguishedName);
            foreach (DirectoryAttribute attribute in entry.Attributes.Values)
            {
                if (!values.TryGetValue(attribute.Name, out var list))
                {
                    values[attribute.Name] = list = [];
                }

                foreach (var v in attribute.GetValues(typeof(string)).Cast<string>())
                {
                    list.Add(v);
                }
            }
        }

        return new DirectoryEntry(string.Join("; ", names),
            values.Select(v => KeyValuePair.Create(v.Key, (IReadOnlyList<string>)v.Value)));
    }

    private LdapConnection Connect()
    {
        var connection = new LdapConnection(new LdapDirectoryIdentifier(_options.LdapHost, _options.LdapPort, fullyQualifiedDnsHostName: false, connectionless: false))
        {
            Timeout = _options.LdapTimeout,
            AutoBind = false,
        };
        try
        {
            connection.SessionOptions.ProtocolVersion = 3;
            connection.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
            if (_options.LdapBindDn is null)
            {
                connection.AuthType = AuthType.Anonymous;
                connection.Bind();
            }
            else
            {
                connection.AuthType = AuthType.Basic;
                connection.Bind(new NetworkCredential(_options.LdapBindDn, _options.LdapBindPassword ?? string.Empty));
            }

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static string Describe(Exception e) => e switch
    {
        DirectoryOperationException { Response: { } r } => $"{e.Message} (result {r.ResultCode})",
        LdapException l => $"{e.Message} (LDAP error {l.ErrorCode.ToString(CultureInfo.InvariantCulture)})",
        _ => e.Message,
    };
}
