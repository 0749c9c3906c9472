using System.Net.Sockets;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>
/// How the reactor deals connections to its I/O threads (<see cref="IoReactor"/>): the one serving fewest, and a new
/// thread once each serves <see cref="IoReactor.ConnectionsPerThread"/>, so that a preempted thread holds up few.
/// </summary>
public class IoReactorTests
{
    private static readonly object[] Placements =
    [
        new object[] { new[] { 0, 0, 0, 0 }, 64, 0, 0, "all idle: the first from where the search starts" },
        new object[] { new[] { 0, 0, 0, 0 }, 64, 2, 2, "ties go round: the search starts after the last one chosen" },
        new object[] { new[] { 1, 0, 0, 0 }, 64, 0, 1, "the one serving fewest" },
        new object[] { new[] { 0, 1, 1, 1 }, 64, 3, 0, "the search wraps round" },
        new object[] { new[] { 4, 4, 4, 3 }, 64, 0, 3, "one has room left" },
        new object[] { new[] { 5, 3, 4, 4 }, 64, 0, 1, "one serves fewer than four: it takes the connection, whatever the others serve" },
        new object[] { new[] { 4, 4, 4, 4 }, 64, 1, 4, "each serves four: another thread, and the connection is its first" },
        new object[] { new[] { 4, 0, 4, 4 }, 64, 2, 1, "a thread whose connections closed takes the next one" },
        new object[] { new[] { 4, 4, 4, 4 }, 4, 1, 1, "no room for another thread: they share, fewest first" },
        new object[] { new[] { 5, 4, 5, 5 }, 4, 0, 1, "beyond the most threads, still the one serving fewest" },
    ];

    [TestCaseSource(nameof(Placements))]
    public void A_new_connection_goes_to_the_thread_serving_fewest_and_a_thread_is_started_when_each_serves_four(
        int[] connections, int capacity, int from, int expectedLoop, string why)
    {
        // An index one past the running threads is a thread to be started, the connection its first.
        Assert.That(IoReactor.Place(connections, capacity, from), Is.EqualTo(expectedLoop), why);
    }

    [Test]
    public async Task Many_connections_are_served_by_threads_started_for_them_at_most_four_each_each_connection_always_by_the_same_one()
    {
        if (IoReactor.Shared is not { } reactor)
        {
            Assert.Ignore("no epoll here: .NET's sockets serve async I/O");
            return;
        }

        // Two threads' worth more than the threads started at once can serve at four each: more must be started.
        var count = (IoReactor.InitialThreadCount + 2) * IoReactor.ConnectionsPerThread;
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

            Assert.That(first, Is.All.StartWith("milter I/O"), "replies are read on the reactor's threads");
            Assert.That(second, Is.EqualTo(first), "a connection stays with its thread");
            Assert.That(first.GroupBy(t => t).Select(g => g.Count()), Is.All.LessThanOrEqualTo(IoReactor.ConnectionsPerThread),
                "no thread serves more than four");
            Assert.That(first.Distinct().Count(), Is.GreaterThan(IoReactor.InitialThreadCount), "threads were started for them");
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

    /// <summary>The name of the thread on which a read that had to wait for the peer's reply goes on.</summary>
    private static async Task<string?> ThreadOfReplyAsync(ReactorStream stream, Socket peer)
    {
        var buffer = new byte[8];
        var read = ReadAsync();
        peer.Send("reply"u8);
        return await read;

        async Task<string?> ReadAsync()
        {
            var got = await stream.ReadAsync(buffer).ConfigureAwait(false);
            Assert.That(got, Is.GreaterThan(0));
            return Thread.CurrentThread.Name;
        }
    }
}
