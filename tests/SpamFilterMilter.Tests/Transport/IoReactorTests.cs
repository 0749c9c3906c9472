using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Options;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>
/// How the reactor deals connections to its I/O threads (<see cref="IoReactor"/>): to the one serving fewest, ties in
/// turn, so that the connections are spread evenly over its fixed set of threads; and which reactor serves which
/// connections (<c>IO_THREADS</c>).
/// </summary>
public class IoReactorTests
{
    private static readonly object[] Placements =
    [
        new object[] { new[] { 0, 0, 0, 0 }, 0, 0, "all idle: the first from where the search starts" },
        new object[] { new[] { 0, 0, 0, 0 }, 2, 2, "ties go round: the search starts after the last one chosen" },
        new object[] { new[] { 1, 0, 0, 0 }, 0, 1, "the one serving fewest" },
        new object[] { new[] { 0, 1, 1, 1 }, 3, 0, "the search wraps round" },
        new object[] { new[] { 4, 4, 4, 3 }, 0, 3, "one serves fewer than the others" },
        new object[] { new[] { 4, 0, 4, 4 }, 2, 1, "a thread whose connections closed takes the next one" },
        new object[] { new[] { 16, 16, 16, 16 }, 1, 1, "all serve as many: still in turn, however many that is" },
        new object[] { new[] { 17, 16, 17, 17 }, 0, 1, "many each: still the one serving fewest" },
    ];

    [TestCaseSource(nameof(Placements))]
    public void A_new_connection_goes_to_the_thread_serving_fewest_ties_in_turn(int[] connections, int from, int expectedLoop, string why) =>
        Assert.That(IoReactor.Place(connections, from), Is.EqualTo(expectedLoop), why);

    [Test]
    public async Task Many_connections_are_spread_over_all_the_threads_and_each_is_always_served_by_the_same_one()
    {
        var reactor = TestReactors.Default;

        // Three times as many connections as threads: no thread is started for them, and none is left out.
        var (first, second) = await ThreadsOfTwoRepliesEachAsync(reactor, 3 * reactor.ThreadCount);

        Assert.That(reactor.ThreadCount, Is.EqualTo(IoReactor.DefaultThreadCount));
        Assert.That(first.Select(t => t.Name), Is.All.StartWith("milter I/O"), "replies are read on the reactor's threads");
        Assert.That(second, Is.EqualTo(first), "a connection stays with its thread");
        Assert.That(first.Distinct().Count(), Is.EqualTo(reactor.ThreadCount), "every thread serves some, and no other was started");
        Assert.That(first.GroupBy(t => t).Select(g => g.Count()), Is.All.InRange(2, 4),
            "about three each (one more or less where a test beside this one holds or has just closed a connection)");
    }

    [Test]
    public async Task A_thread_count_of_its_own_gets_a_reactor_with_that_many_threads_shared_by_whoever_asks_for_the_same()
    {
        var reactor = TestReactors.OrIgnore(IoReactor.For(3));

        var (first, second) = await ThreadsOfTwoRepliesEachAsync(reactor, 6);
        var (defaultThreads, _) = await ThreadsOfTwoRepliesEachAsync(TestReactors.Default, 1);

        Assert.That(IoReactor.For(3), Is.SameAs(reactor), "one reactor per count");
        Assert.That(reactor.ThreadCount, Is.EqualTo(3));
        Assert.That(second, Is.EqualTo(first), "a connection stays with its thread");
        Assert.That(first.GroupBy(t => t).Select(g => g.Count()), Is.EqualTo(new[] { 2, 2, 2 }), "three threads, two connections each");
        Assert.That(first.Select(t => t.Id), Has.None.EqualTo(defaultThreads[0].Id), "a thread of the default reactor is not one of them");
    }

    [Test]
    public async Task IO_THREADS_chooses_the_reactor_that_serves_a_milter_connection()
    {
        _ = TestReactors.Default; // the test is ignored where there is none
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var options = MilterOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HOST"] = "127.0.0.1", ["PORT"] = port.ToString(CultureInfo.InvariantCulture), ["IO_THREADS"] = "5",
        }).Build());

        await using var chosen = await Connectors.ToFirstServer(options).ConnectAsync(default);
        options.IoThreads = null;
        await using var byDefault = await Connectors.ToFirstServer(options).ConnectAsync(default);

        Assert.That(((ReactorStream)chosen.Stream).Reactor, Is.SameAs(IoReactor.For(5)));
        Assert.That(((ReactorStream)byDefault.Stream).Reactor, Is.SameAs(TestReactors.Default));
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections served by <paramref name="reactor"/> and has each peer answer twice:
    /// the thread each connection's first and second reply were read on.
    /// </summary>
    private static async Task<(ReplyThread[] First, ReplyThread[] Second)> ThreadsOfTwoRepliesEachAsync(IoReactor reactor, int count)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var connections = new List<(ReactorStream Stream, Socket Peer)>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                MilterConnection.Configure(socket);
                var stream = await ReactorStream.ConnectAsync(reactor, socket, listener.LocalEndpoint, TimeSpan.FromSeconds(5), default);
                connections.Add((stream, await listener.AcceptSocketAsync()));
            }

            var first = await Task.WhenAll(connections.Select(c => ThreadOfReplyAsync(c.Stream, c.Peer)));
            var second = await Task.WhenAll(connections.Select(c => ThreadOfReplyAsync(c.Stream, c.Peer)));
            return (first, second);
        }
        finally
        {
            foreach (var (stream, peer) in connections)
            {
                await stream.DisposeAsync();
                peer.Dispose();
            }
        }
    }

    /// <summary>A thread by its id (names repeat from one reactor to the next) and its name.</summary>
    private readonly record struct ReplyThread(int Id, string? Name);

    /// <summary>The thread on which a read that had to wait for the peer's reply goes on.</summary>
    private static async Task<ReplyThread> ThreadOfReplyAsync(ReactorStream stream, Socket peer)
    {
        var buffer = new byte[8];
        var read = ReadAsync();
        peer.Send("reply"u8);
        return await read;

        async Task<ReplyThread> ReadAsync()
        {
            var got = await stream.ReadAsync(buffer).ConfigureAwait(false);
            Assert.That(got, Is.GreaterThan(0));
            return new ReplyThread(Environment.CurrentManagedThreadId, Thread.CurrentThread.Name);
        }
    }
}
