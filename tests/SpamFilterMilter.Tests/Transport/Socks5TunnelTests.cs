using System.Net.Sockets;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>Every refusal a SOCKS server can give, from a scripted SOCKS server, as raw bytes.</summary>
[Category("Integration")] // the scripted server holds each connection 200 ms, or 3 s for the timeout
public class Socks5TunnelTests
{
    /// <summary>What a handshake against the scripted server came to.</summary>
    /// <param name="Error">The handshake's exception, or null when it succeeded.</param>
    /// <param name="Sent">Every byte the client sent the server during the handshake.</param>
    /// <param name="Next">After a successful handshake, the bytes the client reads next (<see cref="Sentinel"/> when the server sent it).</param>
    /// <param name="Took">How long the handshake itself took.</param>
    private sealed record Handshake(Exception? Error, byte[] Sent, byte[]? Next, TimeSpan Took);

    /// <summary>What the scripted server sends right after its replies: the first bytes "from the milter".</summary>
    private static readonly byte[] Sentinel = "MILTER"u8.ToArray();

    /// <summary>
    /// Runs the handshake (to 127.0.0.1:8890 unless <paramref name="destination"/> says otherwise) against a
    /// scripted server that answers with <paramref name="replies"/> (then, if asked, <see cref="Sentinel"/>),
    /// whole or byte by byte, and keeps the connection for <paramref name="hold"/> before closing it.
    /// </summary>
    private static async Task<Handshake> HandshakeAsync(byte[] replies, bool blocking, string? password = null, bool oneByteAtATime = false,
        TimeSpan? timeout = null, TimeSpan? hold = null, Socks5Destination? destination = null, bool thenSentinel = false)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (blocking)
        {
            client.Connect((IPEndPoint)listener.LocalEndpoint);
        }
        else
        {
            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        }

        using var server = await listener.AcceptSocketAsync();
        var serving = Task.Run(async () =>
        {
            byte[] all = thenSentinel ? [.. replies, .. Sentinel] : replies;
            foreach (var chunk in oneByteAtATime ? all.Select(b => new[] { b }) : [all])
            {
                await server.SendAsync(chunk);
                await Task.Delay(oneByteAtATime ? 2 : 0);
            }

            await Task.Delay(hold ?? TimeSpan.FromMilliseconds(200));
            server.Shutdown(SocketShutdown.Send);
        });
        var receiving = Task.Run(async () =>
        {
            var sent = new List<byte>();
            var buffer = new byte[512];
            int read;
            while ((read = await server.ReceiveAsync(buffer)) > 0)
            {
                sent.AddRange(buffer.AsSpan(0, read));
            }

            return sent.ToArray();
        });
        Exception? error = null;
        byte[]? next = null;
        var started = System.Diagnostics.Stopwatch.StartNew();
        var took = TimeSpan.Zero;
        try
        {
            await Socks5Tunnel.EstablishAsync(client, destination ?? new Socks5Destination(IPAddress.Loopback, null, 8890), "user", password, blocking,
                timeout ?? TimeSpan.FromSeconds(3), default);
            took = started.Elapsed;
            next = new byte[Sentinel.Length];
            client.ReceiveTimeout = 3000;
            var got = 0;
            while (got < next.Length && client.Receive(next, got, next.Length - got, SocketFlags.None) is > 0 and var n)
            {
                got += n;
            }
        }
        catch (Exception e) when (e is SocksException or TimeoutException)
        {
            (error, took) = (e, started.Elapsed);
        }
        finally
        {
            client.Shutdown(SocketShutdown.Send);
            await serving;
        }

        return new Handshake(error, await receiving, next, took);
    }

    private static readonly byte[] NoAuth = [5, 0];
    private static byte[] Reply(byte code) => [5, code, 0, 1, 127, 0, 0, 1, 0x22, 0xC2];

    [TestCase(1, "general SOCKS server failure")]
    [TestCase(2, "connection not allowed by the SOCKS server's rules")]
    [TestCase(3, "network unreachable")]
    [TestCase(4, "host unreachable")]
    [TestCase(5, "connection refused")]
    [TestCase(6, "TTL expired")]
    [TestCase(7, "command not supported")]
    [TestCase(8, "address type not supported")]
    [TestCase(9, "unknown SOCKS reply code 9")]
    public async Task Each_SOCKS_reply_code_is_a_readable_reason(int code, string reason)
    {
        foreach (var blocking in new[] { false, true })
        {
            var error = (await HandshakeAsync([.. NoAuth, .. Reply((byte)code)], blocking)).Error;

            Assert.That(error, Is.TypeOf<SocksException>());
            Assert.That(error!.Message, Is.EqualTo($"the SOCKS server could not connect to 127.0.0.1:8890: {reason}"));
            Assert.That(((SocksException)error).DestinationUnreachable, Is.EqualTo(code is 3 or 4 or 5 or 6));
        }
    }

    private static readonly object[] Broken =
    [
        new object[] { new byte[] { 5, 0xFF }, null!, "the SOCKS server requires authentication: set SOCKS_PASSWORD (and SOCKS_USER)" },
        new object[] { new byte[] { 5, 0xFF }, "pw", "the SOCKS server accepts none of the methods offered (no authentication, username/password)" },
        new object[] { new byte[] { 5, 2 }, null!, "chose authentication method 0x02, which was not offered" },
        new object[] { new byte[] { 4, 0 }, null!, "answered the method selection reply with version 4, expected 5: is it a SOCKS5 server?" },
        new object[] { new byte[] { 5, 2, 1, 1 }, "pw", "the SOCKS server refused the password for user \"user\"" },
        new object[] { new byte[] { 5, 0, 5, 0, 0, 9, 0 }, null!, "the SOCKS server's reply has unknown address type 9" },
        new object[] { new byte[] { 5 }, null!, "the SOCKS server closed the connection during the method selection reply" },
        new object[] { new byte[] { 5, 0, 5, 0 }, null!, "the SOCKS server closed the connection during the connect reply" },
    ];

    [TestCaseSource(nameof(Broken))]
    public async Task A_broken_or_refusing_SOCKS_server_gives_a_clear_reason_whatever_the_segmentation(byte[] replies, string? password, string message)
    {
        foreach (var (blocking, bytewise) in new[] { (false, false), (true, false), (false, true) })
        {
            var handshake = await HandshakeAsync(replies, blocking, password, bytewise);

            Assert.That(handshake.Error?.Message, Does.Contain(message), $"blocking={blocking} bytewise={bytewise}");
        }
    }

    /// <summary>The CONNECT request for <paramref name="address"/> (already encoded: type and address) and port 8890.</summary>
    private static byte[] ConnectRequest(params byte[] address) => [5, 1, 0, .. address, 0x22, 0xBA];

    private static IEnumerable<object[]> Completed()
    {
        // replies, password, destination, what the client must have sent
        yield return [(byte[])[.. NoAuth, .. Reply(0)], null!, "127.0.0.1",
            (byte[])[5, 1, 0, .. ConnectRequest(1, 127, 0, 0, 1)]];
        yield return [(byte[])[5, 2, 1, 0, .. Reply(0)], "pw", "127.0.0.1",
            (byte[])[5, 2, 0, 2, 1, 4, .. "user"u8.ToArray(), 2, .. "pw"u8.ToArray(), .. ConnectRequest(1, 127, 0, 0, 1)]];
        yield return [(byte[])[.. NoAuth, 5, 0, 0, 4, .. new byte[16], 0x1F, 0x90], null!, "::1",
            (byte[])[5, 1, 0, .. ConnectRequest([4, .. IPAddress.IPv6Loopback.GetAddressBytes()])]];
        yield return [(byte[])[.. NoAuth, 5, 0, 0, 3, 9, .. "proxy.lan"u8.ToArray(), 0x1F, 0x90], null!, "milter.example",
            (byte[])[5, 1, 0, .. ConnectRequest([3, 14, .. "milter.example"u8.ToArray()])]];
    }

    [TestCaseSource(nameof(Completed))]
    public async Task A_complete_handshake_sends_RFC_1928_requests_and_leaves_the_socket_at_the_destination(byte[] replies, string? password, string destination, byte[] sent)
    {
        var to = IPAddress.TryParse(destination, out var address) ? new Socks5Destination(address, null, 8890) : new Socks5Destination(null, destination, 8890);
        foreach (var (blocking, bytewise) in new[] { (false, false), (true, false), (false, true) })
        {
            var handshake = await HandshakeAsync(replies, blocking, password, bytewise, destination: to, thenSentinel: true);

            Assert.That(handshake.Error, Is.Null, $"blocking={blocking} bytewise={bytewise}");
            Assert.That(handshake.Sent, Is.EqualTo(sent), "method selection, authentication and CONNECT, byte for byte");
            Assert.That(handshake.Next, Is.EqualTo(Sentinel), "the reply (whatever its bound address) is read exactly: the milter's first bytes are left for the session");
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_silent_SOCKS_server_times_out_within_the_bound(bool blocking)
    {
        var handshake = await HandshakeAsync([], blocking, timeout: TimeSpan.FromMilliseconds(300), hold: TimeSpan.FromSeconds(3));

        Assert.That(handshake.Error, Is.TypeOf<TimeoutException>());
        Assert.That(handshake.Error!.Message, Is.EqualTo("the SOCKS handshake did not finish within 0.3 s"));
        Assert.That(handshake.Took, Is.LessThan(TimeSpan.FromSeconds(2.5)), "the bound ended the wait, not the server closing after 3 s");
    }
}
