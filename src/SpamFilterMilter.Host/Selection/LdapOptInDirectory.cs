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
/// requires. When several entries match, their values are merged.
/// <para>
/// One connection, opened on first use (simple bind as LDAP_BIND_DN, or anonymous), used by one lookup at a
/// time. Every wait is bounded by LDAP_TIMEOUT: for the connection (behind a slow lookup), for connecting
/// and binding, for the search; so a slow server fails lookups instead of queueing them. A connection that
/// fails is dropped; a kept one the server has since closed (an idle timeout) is replaced once, at once,
/// before the lookup fails. Every failure is an <see cref="OptInDirectoryException"/> (the OpenLDAP library
/// missing too); only cancellation is an <see cref="OperationCanceledException"/>. Neither the bind password
/// nor the address looked up is ever part of an exception message.
/// </para>
/// </summary>
public sealed class LdapOptInDirectory : IOptInDirectory, IDisposable
{
    private readonly DirectoryOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private LdapConnection? _connection;
    private volatile bool _disposed;

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

    /// <summary>
    /// Closes the connection. A lookup in flight finishes first (it closes the connection when it is done);
    /// a lookup after this fails with an <see cref="OptInDirectoryException"/>.
    /// </summary>
    public void Dispose()
    {
        _disposed = true;
        if (_gate.Wait(0))
        {
            try
            {
                Drop();
            }
            finally
            {
                _gate.Release();
            }
        }
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

        if (_disposed)
        {
            throw Closed(what);
        }

        if (!await _gate.WaitAsync(_options.LdapTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new OptInDirectoryException($"{this}: looking up a {what}: the lookups before it have not finished within LDAP_TIMEOUT ({Seconds(_options.LdapTimeout)} s)");
        }

        SearchResponse response;
        try
        {
            if (_disposed)
            {
                throw Closed(what);
            }

            response = await SendAsync(request, what, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (_disposed)
            {
                Drop();
            }

            _gate.Release();
        }

        try
        {
            return ToEntry(response);
        }
        catch (Exception e) when (e is ArgumentException or DecoderFallbackException or InvalidOperationException)
        {
            throw new OptInDirectoryException($"{this}: looking up a {what}: the answer cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The entries found, merged into one (null when none), their values read as strings.</summary>
    private static DirectoryEntry? ToEntry(SearchResponse response)
    {
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

    /// <summary>The search on the kept connection, or on a new one; once more on a new one when the kept one was closed by the server.</summary>
    private async Task<SearchResponse> SendAsync(SearchRequest request, string what, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var reused = _connection is not null;
            try
            {
                var connection = _connection ??= await ConnectAsync(cancellationToken).ConfigureAwait(false);
                return (SearchResponse)await Task.Factory.FromAsync(
                        (callback, state) => connection.BeginSendRequest(request, _options.LdapTimeout, PartialResultProcessing.NoPartialResultSupport, callback, state),
                        connection.EndSendRequest,
                        state: null)
                    .WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsDirectoryFailure(e))
            {
                // The connection may be broken: never use it again.
                Drop();
                if (reused && attempt == 1 && IsConnectionLost(e))
                {
                    continue; // the server closed the connection we kept (an idle timeout): a new one, once
                }

                throw new OptInDirectoryException($"{this}: looking up a {what}: {Describe(e)}", e);
            }
        }
    }

    /// <summary>
    /// Connects and binds, within LDAP_TIMEOUT (whatever the library does with its own timeout); a connection
    /// made after the caller gave up (cancelled, or timed out) is closed, not leaked.
    /// </summary>
    private async Task<LdapConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        // Connect blocks until the server answers or the library gives up: on a thread of its own, not the thread
        // pool's, where a server that does not answer would hold a pool thread per attempt and so delay the timers
        // of everything else in the host (a test saw the lookups' own LDAP_TIMEOUTs fire late on two cores).
        var connecting = Task.Factory.StartNew(Connect, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            return await connecting.WaitAsync(_options.LdapTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            _ = connecting.ContinueWith(
                done =>
                {
                    if (done.IsCompletedSuccessfully)
                    {
                        done.Result.Dispose();
                    }
                    else
                    {
                        _ = done.Exception; // observed: the caller has gone
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            if (e is TimeoutException)
            {
                throw new TimeoutException($"no answer to connecting and binding within LDAP_TIMEOUT ({Seconds(_options.LdapTimeout)} s)", e);
            }

            throw;
        }
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

    private void Drop()
    {
        _connection?.Dispose();
        _connection = null;
    }

    private OptInDirectoryException Closed(string what) => new($"{this}: looking up a {what}: the directory is closed", new ObjectDisposedException(nameof(LdapOptInDirectory)));

    /// <summary>
    /// What the directory library throws when the server cannot be asked: LDAP errors, timeouts, a connection
    /// disposed under it, and the OpenLDAP client library missing or unusable on this system.
    /// </summary>
    private static bool IsDirectoryFailure(Exception e) =>
        e is DirectoryException or InvalidOperationException or TimeoutException or TypeInitializationException
            or DllNotFoundException or EntryPointNotFoundException or PlatformNotSupportedException;

    /// <summary>LDAP_SERVER_DOWN (81): the connection is gone, which on a kept connection means the server closed it.</summary>
    private static bool IsConnectionLost(Exception e) => e is LdapException { ErrorCode: 81 };

    private static string Seconds(TimeSpan time) => time.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    private static string Describe(Exception e) => e switch
    {
        DirectoryOperationException { Response: { } r } => $"{e.Message} (result {r.ResultCode})",
        LdapException l => $"{e.Message} (LDAP error {l.ErrorCode.ToString(CultureInfo.InvariantCulture)})",
        _ => e.Message,
    };
}
