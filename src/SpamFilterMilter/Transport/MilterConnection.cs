using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Transport;

/// <summary>
/// An open TCP connection to a milter (directly or through SOCKS5). Owns the socket; the stream is
/// what the protocol layer reads and writes.
/// </summary>
internal sealed class MilterConnection : IAsyncDisposable, IDisposable, IConnectionControl
{
    // Linux <netinet/tcp.h>: TCP_QUICKACK. Not in SocketOptionName, so set as a raw option.
    private const int IpProtocolTcp = 6;
    private const int TcpQuickAck = 12;

    private readonly Socket _socket;
    private readonly bool _quickAck;

    private readonly ConnectionCount _count;

    /// <param name="socket">The connected socket, which the connection owns.</param>
    /// <param name="reactorStream">The socket as <see cref="IoReactor"/> serves it (async I/O on Linux), or null for a <see cref="NetworkStream"/>.</param>
    /// <param name="peer">Where the socket connected: the milter, or the SOCKS server when connected through one.</param>
    /// <param name="remote">Where it really goes, for log lines.</param>
    /// <param name="telemetry">Where the connection is counted, as active until it is parked.</param>
    public MilterConnection(Socket socket, ReactorStream? reactorStream, EndPoint peer, string remote, MilterTelemetry telemetry)
    {
        _socket = socket;
        PeerEndPoint = peer;
        Remote = remote;
        _count = new ConnectionCount(telemetry);
        if (reactorStream is null)
        {
            Stream = new CountedStream(socket, _count);
        }
        else
        {
            reactorStream.CountAs(_count);
            Stream = reactorStream;
        }

        _quickAck = OperatingSystem.IsLinux() && socket.ProtocolType == ProtocolType.Tcp;
    }

    /// <summary>The socket (for tests of its options).</summary>
    internal Socket Socket => _socket;

    /// <summary>The address actually connected to (e.g. <c>127.0.0.1:8890</c>, or the SOCKS route).</summary>
    public string Remote { get; }

    public Stream Stream { get; }

    /// <summary>
    /// The socket's far end: the milter, or the SOCKS server when connected through one. Kept from the connect: a socket the
    /// reactor connected is not known to .NET as connected, and its <see cref="Socket.RemoteEndPoint"/> is null (<see cref="NativeSocket"/>).
    /// </summary>
    public EndPoint PeerEndPoint { get; }

    /// <summary>The connection is parked for reuse (POOL_SIZE): it counts as idle until <see cref="MarkActive"/>.</summary>
    public void MarkIdle() => _count.MoveTo(MilterTelemetry.Idle);

    /// <summary>A parked connection is taken for a session: it counts as active again.</summary>
    public void MarkActive() => _count.MoveTo(MilterTelemetry.Active);

    /// <summary>
    /// Sends the pending ACK now (TCP_QUICKACK). Without this a milter that sends two packets in a row
    /// (a header edit, then the verdict) waits ~40 ms for our delayed ACK under Nagle, as measured with
    /// Postfix 3.7 and miltertest. Needed only when more packets follow the one just read: otherwise our
    /// next command carries the ACK, and the system call would be wasted.
    /// </summary>
    public void AcknowledgeNow()
    {
        if (!_quickAck)
        {
            return;
        }

        Span<int> one = [1];
        try
        {
            _socket.SetRawSocketOption(IpProtocolTcp, TcpQuickAck, MemoryMarshal.AsBytes(one));
        }
        catch (SocketException)
        {
            // Only a latency optimisation; a socket that refuses it still works.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Bounds blocking reads and writes; only a change costs system calls.</summary>
    public void SetBlockingTimeout(TimeSpan timeout)
    {
        var milliseconds = (int)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, int.MaxValue);
        if (milliseconds == _blockingTimeout)
        {
            return;
        }

        _blockingTimeout = milliseconds;
        try
        {
            _socket.ReceiveTimeout = _socket.SendTimeout = milliseconds;
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private int _blockingTimeout;

    /// <inheritdoc />
    public int AvailableBytes
    {
        get
        {
            try
            {
                return _socket.Available;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return 0; // a broken socket shows itself on the next read
            }
        }
    }

    /// <summary>Sets the options every milter socket gets before it connects.</summary>
    public static void Configure(Socket socket)
    {
        if (socket.ProtocolType == ProtocolType.Tcp)
        {
            socket.NoDelay = true; // Nagle does not exist on a UNIX-domain socket
        }
    }

    /// <summary>
    /// True when a TCP connect reached its own socket: TCP's simultaneous open lets a connect to a loopback port in
    /// the local ephemeral range, where nothing listens, succeed from that very port. Such a connection reads its
    /// own commands back as replies, and holds the port the milter needs to listen again after a restart (a soak
    /// with the milter killed under load met both). <paramref name="remote"/> is where it connected: a socket the reactor
    /// connected is not known to .NET as connected, and its bound address is asked of the system (<see cref="NativeSocket"/>).
    /// </summary>
    public static bool IsConnectedToItself(Socket socket, EndPoint remote) =>
        remote is IPEndPoint target && target.Equals(socket.LocalEndPoint ?? NativeSocket.LocalAddress(socket, target.AddressFamily));

    public ValueTask DisposeAsync() => Stream.DisposeAsync();

    public void Dispose() => Stream.Dispose();

    /// <summary>Closes <see cref="ConnectionCount"/> when the socket's <see cref="NetworkStream"/> is disposed, whoever disposes it.</summary>
    private sealed class CountedStream(Socket socket, ConnectionCount count) : NetworkStream(socket, ownsSocket: true)
    {
        protected override void Dispose(bool disposing)
        {
            count.Close();
            base.Dispose(disposing);
        }
    }
}
