using System.Net.Sockets;
using System.Runtime.InteropServices;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

public class MilterConnectorTests
{
    private static MilterOptions Options(string host, int port, IoMode ioMode = IoMode.Async) => new() { Host = host, Port = port, Timeout = TimeSpan.FromSeconds(2), IoMode = ioMode };

    private static MilterOptions UnixOptions(string path, string ioMode)
    {
        var options = Options("unix:" + path, 0, Enum.Parse<IoMode>(ioMode));
        options.UnixSocketPath = path; // as HOST=unix:/path sets it
        return options;
    }

    private static int ClosedPort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Test]
    public void A_connect_that_reached_its_own_socket_is_told_apart_from_one_that_reached_a_listener()
    {
        // What the connector refuses after every TCP connect: bound to a port where nothing listens, a socket that
        // connects to that same port gets a connection to itself (TCP's simultaneous open), which would read its
        // own commands back as the milter's replies. Bound to one port and connected to it, as the kernel does for
        // an ephemeral port by chance.
        using var looped = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        looped.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        looped.Connect(looped.LocalEndPoint!);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var real = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        real.Connect(listener.LocalEndpoint);

        Assert.That(MilterConnection.IsConnectedToItself(looped, looped.LocalEndPoint!), Is.True);
        Assert.That(MilterConnection.IsConnectedToItself(real, listener.LocalEndpoint), Is.False);
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public async Task Every_address_is_tried_in_DNS_order_until_one_accepts_IPv6_and_IPv4_alike(string ioMode)
    {
        using var v4 = new TcpListener(IPAddress.Loopback, 0);
        v4.Start();
        var port = ((IPEndPoint)v4.LocalEndpoint).Port;
        var asked = new List<string>();
        // ::1 first, where nothing listens on that port; then 127.0.0.1, which accepts.
        var connector = Connectors.ToFirstServer(Options("milter.test", port, Enum.Parse<IoMode>(ioMode)), (host, _) =>
        {
            asked.Add(host);
            return Task.FromResult(new[] { IPAddress.IPv6Loopback, IPAddress.Loopback });
        });

        await using var connection = await connector.ConnectAsync(default);

        Assert.That(asked, Is.EqualTo(new[] { "milter.test" }));
        Assert.That(connection.Remote, Is.EqualTo($"127.0.0.1:{port}"));
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    [Category("Integration")] // waits out a share of CONNECT_TIMEOUT
    public async Task A_silent_and_a_refusing_address_ahead_of_a_working_one_cost_only_their_share_of_the_connect_time(string ioMode)
    {
        // All three share one port: 127.0.0.1 accepts, 127.0.0.2 never answers (its accept queue is full,
        // so Linux drops the SYN), 127.0.0.3 refuses (nothing listens there).
        using var working = new TcpListener(IPAddress.Loopback, 0);
        working.Start();
        var port = ((IPEndPoint)working.LocalEndpoint).Port;
        using var silent = SilentListener(IPAddress.Parse("127.0.0.2"), port);
        var options = Options("milter.test", port, Enum.Parse<IoMode>(ioMode));
        options.ConnectTimeout = TimeSpan.FromSeconds(1.5);
        var connector = Connectors.ToFirstServer(options,
            (_, _) => Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3"), IPAddress.Loopback }));
        var started = System.Diagnostics.Stopwatch.StartNew();

        await using var connection = await connector.ConnectAsync(default);

        Assert.That(connection.Remote, Is.EqualTo($"127.0.0.1:{port}"));
        Assert.That(started.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.4)), "the silent address had its third of 1.5 s");
        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1.5)), "the refused one failed at once and the working one was reached in time");
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    [Category("Integration")] // waits out CONNECT_TIMEOUT
    public void When_every_address_is_silent_the_connect_ends_at_CONNECT_TIMEOUT(string ioMode)
    {
        using var silent = SilentListener(IPAddress.Parse("127.0.0.2"), 0);
        var port = ((IPEndPoint)silent.Listener.LocalEndpoint).Port;
        var options = Options("milter.test", port, Enum.Parse<IoMode>(ioMode));
        options.ConnectTimeout = TimeSpan.FromSeconds(0.6);
        var connector = Connectors.ToFirstServer(options,
            (_, _) => Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.2") }));
        var started = System.Diagnostics.Stopwatch.StartNew();

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(0.6) + TimeSpan.FromSeconds(0.5)));
        Assert.That(error.Cause, Does.Contain($"127.0.0.2:{port}: no answer within 0.3 s"));
    }

    /// <summary>A listener that never completes a handshake: its accept queue is full, so new SYNs are dropped.</summary>
    private static SilentEndpoint SilentListener(IPAddress address, int port)
    {
        var listener = new TcpListener(address, port);
        listener.Start(0);
        var fillers = new List<Socket>();
        for (var i = 0; i < 3; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                filler.Connect(listener.LocalEndpoint);
            }
            catch (SocketException)
            {
                // in progress
            }

            fillers.Add(filler);
        }

        Thread.Sleep(100);
        return new SilentEndpoint(listener, fillers);
    }

    private sealed record SilentEndpoint(TcpListener Listener, List<Socket> Fillers) : IDisposable
    {
        public void Dispose()
        {
            Fillers.ForEach(f => f.Dispose());
            Listener.Dispose();
        }
    }

    [Test]
    public async Task An_IPv6_milter_is_reached_over_IPv6()
    {
        using var v6 = new TcpListener(IPAddress.IPv6Loopback, 0);
        v6.Start();
        var port = ((IPEndPoint)v6.LocalEndpoint).Port;

        await using var connection = await Connectors.ToFirstServer(Options("::1", port)).ConnectAsync(default);

        Assert.That(connection.Remote, Is.EqualTo($"[::1]:{port}"));
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public void When_no_address_accepts_the_failure_lists_every_attempt(string ioMode)
    {
        var v4Port = ClosedPort(IPAddress.Loopback);
        var connector = Connectors.ToFirstServer(Options("milter.test", v4Port, Enum.Parse<IoMode>(ioMode)),
            (_, _) => Task.FromResult(new[] { IPAddress.IPv6Loopback, IPAddress.Loopback }));

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

        Assert.That(error.Kind, Is.EqualTo(MilterFailureKind.ConnectFailed));
        Assert.That((error.Stage, error.Step), Is.EqualTo((FilterStage.Connect, (string?)null)));
        Assert.That(error.Cause, Does.Contain($"[::1]:{v4Port}: Connection refused").And.Contain($"127.0.0.1:{v4Port}: Connection refused"));
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public void A_refused_address_given_as_such_is_named_once(string ioMode)
    {
        var port = ClosedPort(IPAddress.Loopback);
        var connector = Connectors.ToFirstServer(Options("127.0.0.1", port, Enum.Parse<IoMode>(ioMode)));

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

        Assert.That(error.Cause, Is.EqualTo($"can't connect to 127.0.0.1:{port}: Connection refused"));
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public void A_UNIX_socket_that_does_not_exist_is_said_to_be_missing_not_an_address_problem(string ioMode)
    {
        var path = Path.Combine(Path.GetTempPath(), $"no-such-milter-{Guid.NewGuid():N}.sock");
        var connector = Connectors.ToFirstServer(UnixOptions(path, ioMode));

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

        Assert.That(error.Cause, Is.EqualTo($"can't connect to unix:{path}: no such socket ({path} does not exist: is the milter running?)"));
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public void A_UNIX_socket_left_behind_by_a_milter_that_stopped_is_refused_and_named_once(string ioMode)
    {
        var path = Path.Combine(Path.GetTempPath(), $"stale-milter-{Guid.NewGuid():N}.sock");
        // The socket file is there and nothing listens on it, as when a killed milter left it behind (.NET would delete
        // the file of a socket it closes, so this one stays open, bound and not listening).
        using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        stale.Bind(new UnixDomainSocketEndPoint(path));
        try
        {
            var connector = Connectors.ToFirstServer(UnixOptions(path, ioMode));

            var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

            Assert.That(error.Cause, Is.EqualTo($"can't connect to unix:{path}: Connection refused"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void A_name_that_does_not_resolve_is_a_connect_failure_naming_it()
    {
        var connector = Connectors.ToFirstServer(Options("no-such-host.invalid", 1));

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

        Assert.That(error.Cause, Does.StartWith("can't resolve no-such-host.invalid"));
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public async Task The_socket_has_TCP_NODELAY_and_an_ACK_can_be_hurried(string ioMode)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var connector = Connectors.ToFirstServer(Options("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, Enum.Parse<IoMode>(ioMode)));

        await using var connection = await connector.ConnectAsync(default);

        Assert.That(connection.Socket.NoDelay, Is.True);
        if (ioMode == "Blocking")
        {
            Assert.That((connection.Socket.ReceiveTimeout, connection.Socket.SendTimeout), Is.EqualTo((2000, 2000)), "blocking reads and writes are bounded by TIMEOUT");
        }

        if (OperatingSystem.IsLinux())
        {
            // A fresh socket reads 1 anyway, so switch quick ACKs off first: only AcknowledgeNow can turn them back on.
            int QuickAck()
            {
                Span<int> value = [-1];
                connection.Socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 12 /* TCP_QUICKACK */, MemoryMarshal.AsBytes(value));
                return value[0];
            }

            connection.Socket.SetRawSocketOption(6, 12, MemoryMarshal.AsBytes((Span<int>)[0]));
            Assert.That(QuickAck(), Is.Zero, "switched off");
            connection.AcknowledgeNow();
            Assert.That(QuickAck(), Is.EqualTo(1), "TCP_QUICKACK is on after AcknowledgeNow");
        }
    }
}
