using System.Diagnostics;
using System.Net.Sockets;
using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Transport;

/// <summary>
/// Negotiated milter connections kept between SMTP sessions (POOL_SIZE), parked with SMFIC_QUIT_NC so
/// that the next session starts at SMFIC_CONNECT without a new TCP connection and OPTNEG. libmilter
/// accepts QUIT_NC only after a completed message (or an UNKNOWN command); the session decides that.
/// A parked connection that the milter closed, or that has sat idle too long, is dropped on the way out.
/// </summary>
internal sealed class ConnectionPool(int capacity, TimeSpan idleTimeout) : IAsyncDisposable
{
    private readonly Stack<Entry> _idle = new();
    private bool _disposed;

    /// <summary>A negotiated connection ready for CONNECT, or null (open a new one).</summary>
    public (MilterConnection Connection, NegotiatedOptions Options)? Rent()
    {
        while (true)
        {
            Entry entry;
            lock (_idle)
            {
                if (_idle.Count == 0)
                {
                    return null;
                }

                entry = _idle.Pop();
            }

            if (Stopwatch.GetElapsedTime(entry.IdleSince) < idleTimeout && IsQuiet(entry.Connection.Socket))
            {
                entry.Connection.MarkActive();
                return (entry.Connection, entry.Options);
            }

            entry.Connection.Dispose();
        }
    }

    /// <summary>Parks a connection; false when the pool is full or closed (the caller closes it).</summary>
    public bool Return(MilterConnection connection, NegotiatedOptions options)
    {
        lock (_idle)
        {
            if (_disposed || _idle.Count >= capacity)
            {
                return false;
            }

            connection.MarkIdle(); // before it can be rented again
            _idle.Push(new Entry(connection, options, Stopwatch.GetTimestamp()));
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Entry[] entries;
        lock (_idle)
        {
            _disposed = true;
            entries = [.. _idle];
            _idle.Clear();
        }

        foreach (var entry in entries)
        {
            await entry.Connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>An idle milter sends nothing: readable means closed (or misbehaving), either way not reusable.</summary>
    private static bool IsQuiet(Socket socket)
    {
        try
        {
            return !socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private sealed record Entry(MilterConnection Connection, NegotiatedOptions Options, long IdleSince);
}
