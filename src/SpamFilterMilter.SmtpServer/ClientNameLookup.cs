using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The client's host name as Postfix's smtpd finds it (<c>smtpd_peername_lookup</c>): the address's PTR name, verified
/// when a forward lookup of that name gives the address back. A verified name is <see cref="ClientInfo.HostName"/>
/// (<c>{client_name}</c>, the <c>Received:</c> field); one that does not confirm is only <see cref="ClientInfo.PtrName"/>
/// (<c>_</c> says "may be forged"); none, or no answer in time, leaves the client <c>unknown</c>. Spam filters score an
/// unknown client (SpamAssassin's RDNS_NONE, rspamd's HFILTER_HOSTNAME_UNKNOWN): without the lookup every message would
/// look as if it came from one.
/// </summary>
internal static class ClientNameLookup
{
    /// <summary>A PTR lookup and the forward lookup of its name, as <see cref="Dns.GetHostEntryAsync(string, CancellationToken)"/> does both.</summary>
    public delegate Task<IPHostEntry> Resolver(IPAddress address, CancellationToken cancellationToken);

    /// <summary>The system's resolver (/etc/hosts, then DNS, as nsswitch.conf says).</summary>
    public static readonly Resolver System = (address, cancellationToken) => Dns.GetHostEntryAsync(address.ToString(), cancellationToken);

    /// <summary>
    /// How many lookups may run at once in this process: .NET runs a reverse lookup as a blocking call on a thread-pool
    /// thread, so a resolver that does not answer (a DNS server down) would hold one per new connection until the pool,
    /// which SmtpServer's sessions run on, starves. A lookup that finds them all busy waits within its timeout, then the
    /// client is unknown.
    /// </summary>
    internal const int MaxConcurrentLookups = 16;

    private static readonly SemaphoreSlim Lookups = new(MaxConcurrentLookups, MaxConcurrentLookups);

    /// <summary><paramref name="client"/> with the names its address has, found within <paramref name="timeout"/>.</summary>
    public static async Task<ClientInfo> LookUpAsync(ClientInfo client, Resolver resolve, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (client.Address is not { } address || client.HostName is not null || client.PtrName is not null)
        {
            return client;
        }

        var deadline = Stopwatch.StartNew();
        if (!await Lookups.WaitAsync(timeout, cancellationToken).ConfigureAwait(false))
        {
            return client; // every lookup slot held by lookups that do not end: unknown, as when the resolver does not answer
        }

        IPHostEntry entry;
        try
        {
            Task<IPHostEntry> resolving;
            try
            {
                resolving = resolve(address, cancellationToken);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                resolving = Task.FromException<IPHostEntry>(e);
            }

            // The slot is given back when the lookup ends, not when this session stops waiting for it: it is the thread
            // the lookup holds that is counted. WaitAsync: the system's reverse lookup (getnameinfo) does not stop when
            // cancelled, and the session does not wait for it past its timeout.
            _ = resolving.ContinueWith(static _ => Lookups.Release(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            var left = timeout - deadline.Elapsed;
            entry = await resolving.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or ArgumentException)
        {
            return client; // no PTR record, no answer in time, or a name the resolver would not take: unknown, as at Postfix
        }

        var name = entry.HostName.TrimEnd('.');
        if (Uri.CheckHostName(name) != UriHostNameType.Dns)
        {
            return client; // a numeric or malformed PTR name is no name (Postfix's valid_hostname)
        }

        var confirmed = entry.AddressList.Any(a => Unmapped(a).Equals(Unmapped(address)));
        return confirmed ? client with { HostName = name } : client with { PtrName = name };
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
