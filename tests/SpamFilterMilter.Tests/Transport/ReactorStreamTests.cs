using System.Net.Sockets;
using SpamFilterMilter.Options;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>
/// The plug-in's own event loop for async I/O on Linux (<see cref="IoReactor"/>): reads and writes that wait, and how
/// each wait ends, against a real loopback peer.
/// </summary>
public class ReactorStreamTests
{
    private static IoReactor Reactor => TestReactors.Default;

    /// <summary>A stream connected to a peer socket the test drives.</summary>
    private static async Task<(ReactorStream Stream, Socket Peer)> ConnectedAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        MilterConnection.Configure(socket);
        var stream = await ReactorStream.ConnectAsync(Reactor, socket, listener.LocalEndpoint, TimeSpan.FromSeconds(5), default);
        var peer = await listener.AcceptSocketAsync();
        return (stream, peer);
    }

    [Test]
    public async Task A_read_that_waits_gets_the_bytes_when_they_come_and_what_follows_runs_on_the_plug_ins_IO_thread()
    {
        var (stream, peer) = await ConnectedAsync();
        await using var _ = stream;
        using var __ = peer;
        var buffer = new byte[16];

        async Task<(int Count, string? Thread)> ReadAndSayWhereAsync()
        {
            var count = await stream.ReadAsync(buffer).ConfigureAwait(false); // waits: nothing was sent yet
            return (count, Thread.CurrentThread.Name);
        }

        var read = ReadAndSayWhereAsync();
        Assert.That(read.IsCompleted, Is.False, "nothing sent yet: the read waits");
        peer.Send("reply"u8);
        var (count, thread) = await read;

        Assert.That(Encoding.ASCII.GetString(buffer, 0, count), Is.EqualTo("reply"));
        Assert.That(thread, Does.StartWith("milter I/O"), "the thread that saw the reply runs on: no hop through the thread pool");
    }

    [Test]
    public async Task A_read_that_waits_ends_with_OperationCanceledException_when_its_token_is_cancelled_and_the_stream_reads_on_afterwards()
    {
        var (stream, peer) = await ConnectedAsync();
        await using var _ = stream;
        using var __ = peer;
        var buffer = new byte[16];
        using var cancel = new CancellationTokenSource();

        var read = stream.ReadAsync(buffer, cancel.Token);
        await cancel.CancelAsync();

        Assert.That(async () => await read, Throws.InstanceOf<OperationCanceledException>().With.Property("CancellationToken").EqualTo(cancel.Token));
        peer.Send("later"u8);
        Assert.That(Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer)), Is.EqualTo("later"));
    }

    [Test]
    public async Task A_read_with_a_token_already_cancelled_ends_at_once_and_reads_nothing()
    {
        var (stream, peer) = await ConnectedAsync();
        await using var _ = stream;
        using var __ = peer;
        peer.Send("x"u8);

        var read = stream.ReadAsync(new byte[1], new CancellationToken(canceled: true));

        Assert.That(read.IsCompleted, Is.True, "ended at once, without waiting");
        Assert.That(async () => await read, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(await stream.ReadAsync(new byte[1]), Is.EqualTo(1), "the byte is still there");
    }

    [Test]
    public async Task Disposing_the_stream_ends_a_waiting_read_with_ObjectDisposedException()
    {
        var (stream, peer) = await ConnectedAsync();
        using var _ = peer;

        var read = stream.ReadAsync(new byte[16]);
        await stream.DisposeAsync();

        Assert.That(async () => await read, Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public async Task A_reply_and_the_peers_close_seen_together_read_as_the_reply_then_the_end_of_the_stream()
    {
        // A milter that sends its last packet and closes: one readiness edge says both. A read that gets the packet
        // (less than it asked for) must not take the socket for drained, or the end would wait for an edge that came.
        for (var round = 0; round < 5; round++)
        {
            var (stream, peer) = await ConnectedAsync();
            await using var _ = stream;
            peer.Send("last"u8);
            peer.Close();
            await Task.Delay(20); // lets the reactor see the one edge before the reads (not needed for the assertion)
            var buffer = new byte[16];

            Assert.That(await stream.ReadAsync(buffer), Is.EqualTo(4));
            var end = stream.ReadAsync(buffer).AsTask();
            Assert.That(await Task.WhenAny(end, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(end), "the end of the stream was never read");
            Assert.That(await end, Is.Zero);
        }
    }

    [Test]
    public async Task The_peer_closing_ends_a_waiting_read_with_zero_bytes_and_a_reset_with_an_IOException_as_a_NetworkStream_has()
    {
        var (stream, peer) = await ConnectedAsync();
        await using var _ = stream;
        var read = stream.ReadAsync(new byte[16]);
        peer.Shutdown(SocketShutdown.Send);
        Assert.That(await read, Is.Zero);

        var (reset, resetter) = await ConnectedAsync();
        await using var __ = reset;
        var broken = reset.ReadAsync(new byte[16]);
        resetter.LingerState = new LingerOption(true, 0); // close with RST
        resetter.Dispose();
        Assert.That(async () => await broken, Throws.InstanceOf<IOException>().With.InnerException.InstanceOf<SocketException>());
        peer.Dispose();
    }

    [Test]
    public async Task A_write_larger_than_the_socket_buffers_waits_for_the_peer_to_read_and_arrives_whole_and_in_order()
    {
        var (stream, peer) = await ConnectedAsync();
        await using var _ = stream;
        using var __ = peer;
        var data = new byte[16 * 1024 * 1024];
        new Random(13).NextBytes(data);

        var write = stream.WriteAsync(data);
        Assert.That(write.IsCompleted, Is.False, "the socket buffers are full: the write waits");
        var received = new MemoryStream();
        var buffer = new byte[65536];
        while (received.Length < data.Length)
        {
            received.Write(buffer, 0, await peer.ReceiveAsync(buffer));
        }

        await write;
        Assert.That(received.ToArray().AsSpan().SequenceEqual(data), Is.True);
    }

    [Test]
    public async Task A_write_that_waits_ends_with_OperationCanceledException_when_its_token_is_cancelled()
    {
        var (stream, peer) = await ConnectedAsync();
        await using var _ = stream;
        using var __ = peer;
        using var cancel = new CancellationTokenSource();

        var write = stream.WriteAsync(new byte[16 * 1024 * 1024], cancel.Token);
        Assert.That(write.IsCompleted, Is.False);
        await cancel.CancelAsync();

        Assert.That(async () => await write, Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void Connecting_where_nothing_listens_fails_with_connection_refused()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closed = listener.LocalEndpoint;
        listener.Stop();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        Assert.That(async () => await ReactorStream.ConnectAsync(Reactor, socket, closed, TimeSpan.FromSeconds(5), default),
            Throws.InstanceOf<SocketException>().With.Property(nameof(SocketException.SocketErrorCode)).EqualTo(SocketError.ConnectionRefused));
    }

    [Test]
    public async Task A_unix_domain_socket_is_served_too()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sfm-reactor-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        try
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await using var stream = await ReactorStream.ConnectAsync(Reactor, socket, new UnixDomainSocketEndPoint(path), TimeSpan.FromSeconds(5), default);
            using var peer = await listener.AcceptAsync();

            await stream.WriteAsync("ping"u8.ToArray());
            var buffer = new byte[4];
            Assert.That(await peer.ReceiveAsync(buffer), Is.EqualTo(4));
            Assert.That(Encoding.ASCII.GetString(buffer), Is.EqualTo("ping"));
            var read = stream.ReadAsync(buffer);
            peer.Send("pong"u8);
            Assert.That(Encoding.ASCII.GetString(buffer, 0, await read), Is.EqualTo("pong"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCase("Async", true)]
    [TestCase("Blocking", false)]
    public async Task Async_io_on_linux_goes_through_the_reactor_and_blocking_io_through_a_plain_network_stream(string ioMode, bool reactor)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var options = new MilterOptions { Host = "127.0.0.1", Port = ((IPEndPoint)listener.LocalEndpoint).Port, IoMode = Enum.Parse<IoMode>(ioMode) };

        await using var connection = await Connectors.ToFirstServer(options).ConnectAsync(default);

        Assert.That(connection.Stream, reactor && IoReactor.For(IoReactor.DefaultThreadCount) is not null ? Is.InstanceOf<ReactorStream>() : Is.InstanceOf<NetworkStream>());
        Assert.That(connection.Socket.NoDelay, Is.True, "the options set before connecting hold");
    }

    [Test]
    [NonParallelizable]
    public async Task A_host_that_sets_the_runtime_switch_gets_dotnet_sockets_for_its_async_connections()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var options = new MilterOptions { Host = "127.0.0.1", Port = ((IPEndPoint)listener.LocalEndpoint).Port, IoMode = IoMode.Async };
        _ = Reactor; // ignored where there is no reactor to opt out of

        AppContext.SetSwitch(IoReactor.UseDotNetSocketsSwitch, true);
        try
        {
            await using var connection = await Connectors.ToFirstServer(options).ConnectAsync(default);
            Assert.That(connection.Stream, Is.InstanceOf<NetworkStream>());
        }
        finally
        {
            AppContext.SetSwitch(IoReactor.UseDotNetSocketsSwitch, false);
        }

        await using var served = await Connectors.ToFirstServer(options).ConnectAsync(default);
        Assert.That(served.Stream, Is.InstanceOf<ReactorStream>(), "the switch cleared: the reactor serves again");
    }
}
