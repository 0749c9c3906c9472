using System.Net;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// How many sessions each client address has open, for Postfix's <c>smtpd_client_connection_count_limit</c>: one
/// client that opens connection after connection (a spam run, a broken retry loop) gets <c>421 4.7.0</c> past the
/// limit, instead of sessions, milter connections and lookups without end.
/// </summary>
internal sealed class ClientConnections
{
    private readonly Dictionary<IPAddress, int> _open = [];

    /// <summary>Counts a new session of <paramref name="address"/>: how many it has open now, this one included.</summary>
    public int Open(IPAddress address)
    {
        lock (_open)
        {
            var count = _open.GetValueOrDefault(address) + 1;
            _open[address] = count;
            return count;
        }
    }

    /// <summary>A session of <paramref name="address"/> ended.</summary>
    public void Close(IPAddress address)
    {
        lock (_open)
        {
            if (_open.TryGetValue(address, out var count))
            {
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
    }
}

/// <summary>Why a new session is greeted with 421 and closed, its filter never asked.</summary>
internal enum SessionRefusal
{
    /// <summary>Not refused.</summary>
    None,

    /// <summary>The server drains before a stop.</summary>
    Draining,

    /// <summary>Its client has more sessions open than <see cref="SmtpServerFilteringOptions.MaxConnectionsPerClient"/>.</summary>
    TooManyConnections,
}
