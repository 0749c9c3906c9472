using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SpamFilterMilter.Transport;

/// <summary>Where the SOCKS server should connect: an address (resolved here) or a host name (resolved by the server).</summary>
internal readonly record struct Socks5Destination(IPAddress? Address, string? HostName, int Port)
{
    public override string ToString() => Address is { } a ? new IPEndPoint(a, Port).ToString() : $"{HostName}:{Port}";
}

/// <summary>The SOCKS server refused or broke the tunnel. Never carries the password.</summary>
internal sealed class SocksException(string message, byte? reply = null) : IOException(message)
{
    /// <summary>The RFC 1928 REP code of a refused CONNECT, or null when the failure came earlier.</summary>
    public byte? Reply { get; } = reply;

    /// <summary>The server could not reach the destination (network/host unreachable, refused, TTL): another address may work.</summary>
    public bool DestinationUnreachable => Reply is 3 or 4 or 5 or 6;
}

/// <summary>
/// The client side of a SOCKS5 handshake (RFC 1928) with optional username/password authentication
/// (RFC 1929), on an already connected socket. Afterwards the socket is a plain TCP stream to the
/// destination. Works with blocking sockets (bounded by the socket timeouts) and asynchronously
/// (bounded by a timer), so that the socket keeps the mode the milter session uses.
/// </summary>
internal static class Socks5Tunnel
{
    private const byte Version = 5;
    private const byte MethodNoAuthentication = 0x00;
    private const byte MethodUsernamePassword = 0x02;
    private const byte MethodNoneAcceptable = 0xFF;
    private const byte UsernamePasswordVersion = 1;
    private const byte CommandConnect = 1;
    private const byte AddressTypeIPv4 = 1;
    private const byte AddressTypeDomainName = 3;
    private const byte AddressTypeIPv6 = 4;
    private const int BufferSize = 1 + 1 + 255 + 1 + 255; // the largest message: RFC 1929's request

    /// <summary>
    /// Runs the handshake. Offers username/password only when a password is configured.
    /// Throws <see cref="SocksException"/> with a readable reason, or a timeout/cancellation.
    /// </summary>
    public static async ValueTask EstablishAsync(Socket socket, Socks5Destination destination, string? user, string? password,
        bool blocking, TimeSpan bound, CancellationToken cancellationToken, Stream? stream = null)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        using var timer = blocking ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer?.CancelAfter(bound);
        if (blocking)
        {
            socket.ReceiveTimeout = socket.SendTimeout = Math.Max(1, (int)Math.Ceiling(bound.TotalMilliseconds));
        }

        var io = new Io(socket, stream, blocking, timer?.Token ?? cancellationToken);
        try
        {
            // RFC 1928 §3, method selection:
            // +----+----------+----------+
            // |VER | NMETHODS | METHODS  |
            // +----+----------+----------+
            // | 1  |    1     | 1 to 255 |
            // +----+----------+----------+
            var offerCredentials = password is not null;
            buffer[0] = Version;
            buffer[1] = (byte)(offerCredentials ? 2 : 1);
            buffer[2] = MethodNoAuthentication;
            buffer[3] = MethodUsernamePassword;
            await io.SendAsync(buffer.AsMemory(0, offerCredentials ? 4 : 3)).ConfigureAwait(false);

            // +----+--------+
            // |VER | METHOD |
            // +----+--------+
            await io.ReceiveExactlyAsync(buffer.AsMemory(0, 2), "method selection reply").ConfigureAwait(false);
            CheckVersion(buffer[0], Version, "method selection reply");
            switch (buffer[1])
            {
                case MethodNoAuthentication:
                    break;
                case MethodUsernamePassword when offerCredentials:
                    await AuthenticateAsync(io, buffer, user ?? string.Empty, password!).ConfigureAwait(false);
                    break;
                case MethodNoneAcceptable:
                    throw new SocksException(offerCredentials
                        ? "the SOCKS server accepts none of the methods offered (no authentication, username/password)"
                        : "the SOCKS server requires authentication: set SOCKS_PASSWORD (and SOCKS_USER)");
                default:
                    throw new SocksException($"the SOCKS server chose authentication method 0x{buffer[1]:X2}, which was not offered");
            }

            // RFC 1928 §4, request:
            // +----+-----+-------+------+----------+----------+
            // |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
            // +----+-----+-------+------+----------+----------+
            // | 1  |  1  | X'00' |  1   | Variable |    2     |
            // +----+-----+-------+------+----------+----------+
            buffer[0] = Version;
            buffer[1] = CommandConnect;
            buffer[2] = 0;
            var length = 3 + WriteAddress(buffer.AsSpan(3), destination);
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(length), (ushort)destination.Port);
            await io.SendAsync(buffer.AsMemory(0, length + 2)).ConfigureAwait(false);

            // RFC 1928 §6, reply:
            // +----+-----+-------+------+----------+----------+
            // |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
            // +----+-----+-------+------+----------+----------+
            await io.ReceiveExactlyAsync(buffer.AsMemory(0, 5), "connect reply").ConfigureAwait(false);
            CheckVersion(buffer[0], Version, "connect reply");
            if (buffer[1] != 0)
            {
                throw new SocksException($"the SOCKS server could not connect to {destination}: {ReplyReason(buffer[1])}", buffer[1]);
            }

            // The bound address is of no use to us, but it must be read off the stream.
            var rest = buffer[3] switch
            {
                AddressTypeIPv4 => 4 - 1 + 2,
                AddressTypeIPv6 => 16 - 1 + 2,
                AddressTypeDomainName => buffer[4] + 2,
                _ => throw new SocksException($"the SOCKS server's reply has unknown address type {buffer[3]}"),
            };
            await io.ReceiveExactlyAsync(buffer.AsMemory(0, rest), "connect reply address").ConfigureAwait(false);
        }
        catch (Exception e) when ((e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            || e is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock })
        {
            throw new TimeoutException($"the SOCKS handshake did not finish within {bound.TotalSeconds:0.##} s", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true); // it held the password
        }
    }

    /// <summary>
    /// RFC 1929 username/password sub-negotiation:
    /// <code>
    /// +----+------+----------+------+----------+
    /// |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
    /// +----+------+----------+------+----------+
    /// | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
    /// +----+------+----------+------+----------+
    /// </code>
    /// answered by VER, STATUS (0 = success).
    /// </summary>
    private static async ValueTask AuthenticateAsync(Io io, byte[] buffer, string user, string password)
    {
        buffer[0] = UsernamePasswordVersion;
        var userLength = EncodeField(user, buffer.AsSpan(2), "SOCKS_USER");
        buffer[1] = (byte)userLength;
        var passwordLength = EncodeField(password, buffer.AsSpan(3 + userLength), "SOCKS_PASSWORD");
        buffer[2 + userLength] = (byte)passwordLength;
        await io.SendAsync(buffer.AsMemory(0, 3 + userLength + passwordLength)).ConfigureAwait(false);
        await io.ReceiveExactlyAsync(buffer.AsMemory(0, 2), "authentication reply").ConfigureAwait(false);
        CheckVersion(buffer[0], UsernamePasswordVersion, "authentication reply");
        if (buffer[1] != 0)
        {
            throw new SocksException($"the SOCKS server refused the password for user \"{user}\"");
        }
    }

    private static int EncodeField(string value, Span<byte> destination, string option)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        if (length is < 1 or > 255)
        {
            throw new SocksException($"{option} must be 1 to 255 bytes long for SOCKS username/password authentication");
        }

        return Encoding.UTF8.GetBytes(value, destination);
    }

    private static int WriteAddress(Span<byte> buffer, Socks5Destination destination)
    {
        if (destination.Address is { } address)
        {
            buffer[0] = address.AddressFamily == AddressFamily.InterNetworkV6 ? AddressTypeIPv6 : AddressTypeIPv4;
            address.TryWriteBytes(buffer[1..], out var written);
            return 1 + written;
        }

        var name = destination.HostName!;
        var length = Encoding.ASCII.GetByteCount(name);
        if (length is < 1 or > 255)
        {
            throw new SocksException($"the host name \"{name}\" is too long for SOCKS (255 bytes at most)");
        }

        buffer[0] = AddressTypeDomainName;
        buffer[1] = (byte)length;
        return 2 + Encoding.ASCII.GetBytes(name, buffer[2..]);
    }

    private static void CheckVersion(byte actual, byte expected, string what)
    {
        if (actual != expected)
        {
            throw new SocksException($"the SOCKS server answered the {what} with version {actual}, expected {expected}: is it a SOCKS5 server?");
        }
    }

    /// <summary>RFC 1928 §6 REP values, in words.</summary>
    internal static string ReplyReason(byte reply) => reply switch
    {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by the SOCKS server's rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => $"unknown SOCKS reply code {reply}",
    };

    /// <summary>
    /// Sends and receives in the mode of the socket (asynchronously through <paramref name="stream"/> when the socket
    /// has one, as <see cref="IoReactor"/>'s do); end of stream mid-message is an error, not a zero.
    /// </summary>
    private readonly struct Io(Socket socket, Stream? stream, bool blocking, CancellationToken cancellationToken)
    {
        public async ValueTask SendAsync(ReadOnlyMemory<byte> data)
        {
            if (blocking)
            {
                socket.Send(data.Span);
            }
            else if (stream is not null)
            {
                try
                {
                    await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e) when (e.InnerException is SocketException cause)
                {
                    throw cause; // as the socket itself reports it
                }
            }
            else
            {
                await socket.SendAsync(data, cancellationToken).ConfigureAwait(false);
            }
        }

        public async ValueTask ReceiveExactlyAsync(Memory<byte> buffer, string what)
        {
            var received = 0;
            while (received < buffer.Length)
            {
                int read;
                try
                {
                    read = blocking ? socket.Receive(buffer.Span[received..])
                        : stream is not null ? await stream.ReadAsync(buffer[received..], cancellationToken).ConfigureAwait(false)
                        : await socket.ReceiveAsync(buffer[received..], cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e) when (e.InnerException is SocketException cause)
                {
                    throw cause; // as the socket itself reports it
                }

                if (read == 0)
                {
                    throw new SocksException($"the SOCKS server closed the connection during the {what}");
                }

                received += read;
            }
        }
    }
}
