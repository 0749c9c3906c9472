using System.Net;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// How many sessions each client address has open, for Postfix's <c>smtpd_client_connection_count_limit</c>: one
/// client that opens connection after connection (a spam run, a broken retry loop) gets <c>421 4.7.0</c> past the
/// limit, instead of sessions, milter connections and lookups without end. One count for all of a server's endpoints;
/// the exempt networks (loopback by default, as Postfix exempts <c>$mynetworks</c>) are not counted.
/// </summary>
/// <param name="limit">Sessions one address may have open; 0: no limit.</param>
/// <param name="exemptions">Networks not counted.</param>
internal sealed class ClientConnections(int limit, IReadOnlyList<IPNetwork> exemptions)
{
    private readonly Dictionary<IPAddress, int> _open = [];

    /// <summary>The limit, for the log line of a refusal.</summary>
    public int Limit => limit;

    /// <summary>
    /// Counts a new session of <paramref name="address"/> until its <see cref="Counted.Close"/>, refused or not; null for
    /// a session that is not counted (no address, an exempt one).
    /// </summary>
    public Counted? Open(IPAddress? address)
    {
        if (address is null || exemptions.Any(network => network.Contains(address)))
        {
            return null;
        }

        lock (_open)
        {
            var count = _open.GetValueOrDefault(address) + 1;
            _open[address] = count;
            return new Counted(this, address, count);
        }
    }

    private void Close(IPAddress address)
    {
        lock (_open)
        {
            var count = _open[address];
            if (count <= 1)
            {
                _open.Remove(address);
            }
            else
            {
                _open[address] = count - 1;
            }
        }
    }

    /// <summary>One counted session: its address, how many it had open with it, and its close (once).</summary>
    public sealed class Counted(ClientConnections connections, IPAddress address, int count)
    {
        private int _closed;

        public IPAddress Address => address;

        /// <summary>The address's sessions when this one opened, itself included.</summary>
        public int Count => count;

        /// <summary>Whether this session is one too many.</summary>
        public bool OverLimit => connections.Limit > 0 && count > connections.Limit;

        /// <summary>The session ended (or never started): counted off, once however often it is called.</summary>
        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                connections.Close(address);
            }
        }
    }
}
