using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SpamFilterMilter.Transport;

/// <summary>
/// connect(2) and getsockname(2) on a socket's descriptor, for <see cref="ReactorStream"/> (Linux, as <see cref="IoReactor"/>).
/// .NET's <see cref="Socket.Connect(EndPoint)"/> on a non-blocking socket says that the connect is under way by throwing a
/// <see cref="SocketException"/>: an exception for every milter connection, seen by a host's exception metrics and unwound
/// by the runtime, where a connection per message is what Postfix and sendmail make (docs/performance.md, the other ways
/// to a milter). A socket connected here is one .NET does not know as connected: <see cref="Socket.Connected"/> is false,
/// its <see cref="Socket.LocalEndPoint"/> and <see cref="Socket.RemoteEndPoint"/> are null (the connection keeps where it
/// connected, <see cref="MilterConnection.PeerEndPoint"/>, and its bound address is asked here, <see cref="LocalAddress"/>),
/// and a <see cref="Socket.Shutdown"/> after the peer reset it throws; send, receive, poll and close are as for any socket.
/// </summary>
internal static class NativeSocket
{
    private const int InProgress = 115; // EINPROGRESS

    /// <summary>
    /// Starts connecting <paramref name="socket"/>, non-blocking, to <paramref name="remote"/>: true when it connected at once,
    /// false when the connect is under way (the socket turns writable when it ends, and SO_ERROR says how). A failure at
    /// once is thrown as a <see cref="SocketException"/> in the system's words, as .NET's would be.
    /// </summary>
    public static bool StartConnect(Socket socket, EndPoint remote)
    {
        var address = remote.Serialize(); // the platform's own sockaddr, as .NET passes it to the system
        if (connect(socket.SafeHandle, ref MemoryMarshal.GetReference(address.Buffer.Span), address.Size) == 0)
        {
            return true;
        }

        var error = Marshal.GetLastPInvokeError();
        return error == InProgress ? false : throw new SocketException((int)SocketErrorOf(error), Marshal.GetPInvokeErrorMessage(error));
    }

    /// <summary>The address <paramref name="socket"/>, of <paramref name="family"/>, is bound to; null when the system does not say.</summary>
    public static IPEndPoint? LocalAddress(Socket socket, AddressFamily family)
    {
        var address = new SocketAddress(family);
        var size = address.Buffer.Length;
        if (getsockname(socket.SafeHandle, ref MemoryMarshal.GetReference(address.Buffer.Span), ref size) != 0 || size > address.Buffer.Length)
        {
            return null;
        }

        address.Size = size;
        return new IPEndPoint(IPAddress.Any, 0).Create(address) as IPEndPoint;
    }

    /// <summary>
    /// The <see cref="SocketError"/> .NET gives a connect(2) error number (Linux's numbers; the errors connect(2) documents
    /// for a stream socket); any other, <see cref="SocketError.SocketError"/>. The message is the system's in any case.
    /// </summary>
    private static SocketError SocketErrorOf(int error) => error switch
    {
        1 or 13 => SocketError.AccessDenied, // EPERM, EACCES
        4 => SocketError.Interrupted, // EINTR
        11 => SocketError.WouldBlock, // EAGAIN: no local port left
        22 => SocketError.InvalidArgument, // EINVAL: an IPv6 link-local address without its scope, say
        97 => SocketError.AddressFamilyNotSupported,
        98 => SocketError.AddressAlreadyInUse,
        99 => SocketError.AddressNotAvailable,
        100 => SocketError.NetworkDown,
        101 => SocketError.NetworkUnreachable,
        105 => SocketError.NoBufferSpaceAvailable,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        112 => SocketError.HostDown,
        113 => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };

    [DllImport("libc", SetLastError = true)]
    private static extern int connect(SafeHandle socket, ref byte address, int size);

    [DllImport("libc", SetLastError = true)]
    private static extern int getsockname(SafeHandle socket, ref byte address, ref int size);
}
