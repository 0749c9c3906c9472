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

    /// <summary><paramref name="client"/> with the names its address has, found within <paramref name="timeout"/>.</summary>
    public static async Task<ClientInfo> LookUpAsync(ClientInfo client, Resolver resolve, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (client.Address is not { } address || client.HostName is not null || client.PtrName is not null)
        {
            return client;
        }

        IPHostEntry entry;
        try
        {
            // WaitAsync: the system's reverse lookup (getnameinfo) does not stop when cancelled; the session does not wait for it.
            entry = await resolve(address, cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
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
