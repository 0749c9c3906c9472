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

    /// <summary>
    /// The system's resolver (/etc/hosts, then DNS, as nsswitch.conf says). .NET's lookup by address does the forward
    /// lookup too, but a forward lookup that fails only gives no addresses, for a name that has none as for a DNS server
    /// that did not answer; then the name is looked up again to tell which (Postfix says <c>FORGED</c> for the one and
    /// <c>TEMP</c> for the other): <see cref="ForwardLookupFailedTemporarily"/> for the second.
    /// </summary>
    public static readonly Resolver System = async (address, cancellationToken) =>
    {
        var entry = await Dns.GetHostEntryAsync(address.ToString(), cancellationToken).ConfigureAwait(false);
        if (entry.AddressList.Length == 0 && HostNameOf(entry) is { } name)
        {
            try
            {
                entry.AddressList = await Dns.GetHostAddressesAsync(name, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e) when (IsTemporary(e))
            {
                throw new ForwardLookupFailedTemporarily(name, e);
            }
            catch (SocketException)
            {
                // No address for that name: it does not confirm.
            }
        }

        return entry;
    };

    /// <summary>
    /// How many lookups may run at once in this process: .NET runs a reverse lookup as a blocking call on a thread-pool
    /// thread, so a resolver that does not answer (a DNS server down) would hold one per new connection until the pool,
    /// which SmtpServer's sessions run on, starves. A lookup that finds them all busy waits within its timeout, then the
    /// client is unknown. Connections from one address share its lookup, and one network's lookups hold at most
    /// <see cref="MaxLookupsPerNetwork"/> of them, so one sender cannot take them all.
    /// </summary>
    internal const int MaxConcurrentLookups = 16;

    /// <summary>
    /// How many of those slots the lookups of one network (<see cref="NetworkOf"/>) may hold. Whoever holds a network's
    /// reverse zone can make its PTR lookups never answer, and connect from as many of its addresses as it likes: without
    /// a share, 16 of them would hold every slot, and every other client would wait out its timeout and be unknown. A
    /// quarter leaves the slots to others unless four networks' zones hang at once, and four lookups at once is more than
    /// the honest senders of one network need: their lookups end in milliseconds, and connections from one address share
    /// one. A lookup that finds its network's share used waits within its timeout as for a busy slot.
    /// </summary>
    internal const int MaxLookupsPerNetwork = MaxConcurrentLookups / 4;

    /// <summary>
    /// An IPv4 network is a /24: the longest prefix routed between networks, and the block whose reverse zone
    /// (<c>c.b.a.in-addr.arpa</c>) is delegated to whoever holds it.
    /// </summary>
    private const int IPv4NetworkPrefixLength = 24;

    /// <summary>An IPv6 network is a /48: the longest prefix routed between networks, and what a site is commonly given.</summary>
    private const int IPv6NetworkPrefixLength = 48;

    private static readonly SemaphoreSlim Lookups = new(MaxConcurrentLookups, MaxConcurrentLookups);

    /// <summary>The shares of the networks with a lookup under way (or waiting for a slot), each with how many it has.</summary>
    private static readonly Dictionary<IPAddress, (SemaphoreSlim Slots, int Lookups)> Networks = [];

    /// <summary>The lookups under way, by resolver and address.</summary>
    private static readonly Dictionary<(Resolver Resolve, IPAddress Address), Task<IPHostEntry>> InFlight = [];

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
            // WaitAsync: the system's reverse lookup (getnameinfo) does not stop when cancelled, and the session does not
            // wait for it past its timeout; it goes on for the other sessions that share it.
            entry = await Shared(resolve, Unmapped(address), timeout).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (ForwardLookupFailedTemporarily e)
        {
            return client with { PtrName = e.Name, NameLookupFailedTemporarily = true }; // Postfix: the PTR name, unconfirmed, TEMP
        }
        catch (Exception e) when (e is TimeoutException || (e is SocketException socket && IsTemporary(socket)))
        {
            return client with { NameLookupFailedTemporarily = true }; // no answer in time: unknown, and TEMP, as at Postfix
        }
        catch (Exception e) when (e is SocketException or ArgumentException)
        {
            return client; // no PTR record, or a name the resolver would not take: unknown, as at Postfix
        }

        if (HostNameOf(entry) is not { } name)
        {
            return client; // a numeric or malformed PTR name is no name (Postfix's valid_hostname)
        }

        var confirmed = entry.AddressList.Any(a => Unmapped(a).Equals(Unmapped(address)));
        return confirmed ? client with { HostName = name } : client with { PtrName = name };
    }

    /// <summary>The entry's PTR name without its final dot, or null when it is no host name (numeric, malformed).</summary>
    private static string? HostNameOf(IPHostEntry entry)
    {
        var name = entry.HostName.TrimEnd('.');
        return Uri.CheckHostName(name) == UriHostNameType.Dns ? name : null;
    }

    /// <summary>
    /// The resolver could not find out for now (getaddrinfo's and getnameinfo's <c>EAI_AGAIN</c>: a DNS server that did not
    /// answer, or answered SERVFAIL), which Postfix counts as temporary; a name with no record is not.
    /// </summary>
    private static bool IsTemporary(SocketException e) => e.SocketErrorCode == SocketError.TryAgain;

    /// <summary>A PTR name was found, and the forward lookup that would confirm it could not be made for now.</summary>
    internal sealed class ForwardLookupFailedTemporarily(string name, Exception inner)
        : Exception($"the forward lookup of {name} failed for now: {inner.Message}", inner)
    {
        /// <summary>The PTR name, without its final dot.</summary>
        public string Name { get; } = name;
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>The network of <paramref name="address"/>, unmapped already: its first address.</summary>
    private static IPAddress NetworkOf(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        var prefixBytes = (address.AddressFamily == AddressFamily.InterNetwork ? IPv4NetworkPrefixLength : IPv6NetworkPrefixLength) / 8;
        Array.Clear(bytes, prefixBytes, bytes.Length - prefixBytes);
        return new IPAddress(bytes);
    }

    /// <summary>The share of <paramref name="network"/>, counted as taken by one more lookup until <see cref="Leave"/>.</summary>
    private static SemaphoreSlim Join(IPAddress network)
    {
        lock (Networks)
        {
            var (slots, lookups) = Networks.TryGetValue(network, out var share) ? share : (new(MaxLookupsPerNetwork, MaxLookupsPerNetwork), 0);
            Networks[network] = (slots, lookups + 1);
            return slots;
        }
    }

    /// <summary>One lookup of <paramref name="network"/> less; the last one forgets the network, so the table holds only networks being looked up.</summary>
    private static void Leave(IPAddress network)
    {
        lock (Networks)
        {
            var (slots, lookups) = Networks[network];
            if (lookups == 1)
            {
                Networks.Remove(network);
                slots.Dispose();
            }
            else
            {
                Networks[network] = (slots, lookups - 1);
            }
        }
    }

    /// <summary>The lookup of <paramref name="address"/> under way, or a new one, which waits up to <paramref name="slotWait"/> for a slot.</summary>
    private static Task<IPHostEntry> Shared(Resolver resolve, IPAddress address, TimeSpan slotWait)
    {
        lock (InFlight)
        {
            if (InFlight.TryGetValue((resolve, address), out var running))
            {
                return running;
            }

            var result = new TaskCompletionSource<IPHostEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
            InFlight[(resolve, address)] = result.Task;
            _ = RunAsync(resolve, address, slotWait, result); // may end at once: its removal below takes this same lock, re-entered
            return result.Task;
        }
    }

    /// <summary>One lookup, in its slots; its answer, or why it has none, goes to the sessions that share it.</summary>
    private static async Task RunAsync(Resolver resolve, IPAddress address, TimeSpan slotWait, TaskCompletionSource<IPHostEntry> result)
    {
        IPHostEntry? entry = null;
        Exception? failure = null;
        try
        {
            entry = await InSlotsAsync(resolve, address, slotWait).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failure = e;
        }
        finally
        {
            // Out of the table before its sessions hear the answer: a session that asks after it has one of its own.
            lock (InFlight)
            {
                InFlight.Remove((resolve, address));
            }
        }

        if (failure is null)
        {
            result.SetResult(entry!);
        }
        else
        {
            result.SetException(failure);
        }
    }

    /// <summary>
    /// The lookup of <paramref name="address"/> once its network's share has a slot for it (<see cref="MaxLookupsPerNetwork"/>)
    /// and then the process has one (<see cref="MaxConcurrentLookups"/>), both waited for within <paramref name="slotWait"/>.
    /// Both are given back when the lookup ends, not when its sessions stop waiting for it: it is the thread the lookup
    /// holds that is counted. The share is taken first, so that a network's lookups past its share queue for the share,
    /// not for the process's slots.
    /// </summary>
    private static async Task<IPHostEntry> InSlotsAsync(Resolver resolve, IPAddress address, TimeSpan slotWait)
    {
        var network = NetworkOf(address);
        var share = Join(network);
        try
        {
            var waitingSince = Stopwatch.GetTimestamp();
            if (!await share.WaitAsync(slotWait).ConfigureAwait(false))
            {
                throw new TimeoutException("the client's network holds its share of the lookup slots with lookups that have not ended");
            }

            try
            {
                var waitLeft = slotWait - Stopwatch.GetElapsedTime(waitingSince);
                if (!await Lookups.WaitAsync(waitLeft > TimeSpan.Zero ? waitLeft : TimeSpan.Zero).ConfigureAwait(false))
                {
                    throw new TimeoutException("every lookup slot is held by lookups that have not ended");
                }

                try
                {
                    return await resolve(address, CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    Lookups.Release();
                }
            }
            finally
            {
                share.Release();
            }
        }
        finally
        {
            Leave(network);
        }
    }
}
