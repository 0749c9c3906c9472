using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace SpamFilterMilter.Transport;

/// <summary>
/// The plug-in's own event loop for its milter sockets with <c>IO_MODE=async</c> on Linux: a fixed set of threads
/// (<see cref="ThreadCount"/>), each waiting on its own epoll instance for the connections dealt to it, and each reply
/// handed to the session that waits for it on the thread that saw it arrive.
/// <para>
/// Why not .NET's sockets: there a reply wakes the runtime's epoll thread, which queues the completion to the thread
/// pool, which wakes a pool thread to run it: two thread switches per reply where a blocking client has one, and a
/// place in the pool's queue behind every other connection's work. Measured against libmilter (docs/performance.md)
/// that cost 2 to 3 times the CPU per transaction, and the queueing made our next command arrive more than 1 ms after
/// the milter's reply for one exchange in ten at 32 connections: libmilter's worker then gives the session back to its
/// pool controller, whose hand-off loses wake-ups under load, and sessions waited 40 to 400 ms. Here the thread that
/// reads a reply runs what follows it, as a blocking client's thread does, until the next command is sent and the
/// session waits again.
/// </para>
/// <para>
/// What follows a reply includes the host's code after its <c>await</c>, until it next waits: code that blocks there
/// holds up the other connections this thread serves (the other threads go on serving theirs). Hosts that block
/// after an await should use <c>IO_MODE=blocking</c>.
/// </para>
/// </summary>
internal sealed class IoReactor
{
    // One reply per wait, as a blocking client reads one (batches of 16 measured no better).
    private const int EventsPerWait = 1;

    // One reactor per thread count asked for: plug-ins that ask for the same count share its threads.
    private static readonly ConcurrentDictionary<int, Lazy<IoReactor?>> Reactors = new();

    private readonly List<Loop> _loops; // filled by Start, before any connection: read-only after
    private readonly Lock _placing = new();
    private readonly ConcurrentDictionary<ulong, ReactorStream> _streams = new();
    private int _nextLoop; // where the search for the thread serving fewest starts: ties go round
    private ulong _lastId;

    /// <summary>
    /// The runtime switch (<c>runtimeconfig.json</c>'s <c>configProperties</c>, or <see cref="AppContext.SetSwitch"/>
    /// before connections are made) with which a host keeps .NET's own sockets for async I/O: for a host whose code may
    /// block after an await, which would hold up the other connections one of the reactor's threads serves.
    /// </summary>
    public const string UseDotNetSocketsSwitch = "SpamFilterMilter.UseDotNetSocketsForAsyncIo";

    private IoReactor(int threadCount) => _loops = new List<Loop>(threadCount);

    /// <summary>How many threads serve this reactor's connections: the count asked for, or fewer where the system ran out of epoll instances.</summary>
    public int ThreadCount => _loops.Count;

    /// <summary>
    /// The process's reactor with <paramref name="threadCount"/> threads, started at the first call for that count; null
    /// where there is none (not Linux, or no epoll), and .NET's sockets serve.
    /// </summary>
    public static IoReactor? For(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        return Reactors.GetOrAdd(threadCount, static count => new Lazy<IoReactor?>(() => Start(count))).Value;
    }

    /// <summary>
    /// The reactor a new async connection is served by: the one with <paramref name="threadCount"/> threads
    /// (<c>IO_THREADS</c>), or <see cref="DefaultThreadCount"/> where that is null; null where there is none or the host
    /// set <see cref="UseDotNetSocketsSwitch"/> (read at each connect; no thread is started while the switch is set).
    /// </summary>
    public static IoReactor? ForNewConnection(int? threadCount) =>
        AppContext.TryGetSwitch(UseDotNetSocketsSwitch, out var useDotNetSockets) && useDotNetSockets ? null : For(threadCount ?? DefaultThreadCount);

    /// <summary>
    /// The reactor's threads unless <c>IO_THREADS</c> says otherwise, all started with it: four per core, at least 4, at most 32. Each of up to that many
    /// connections has a thread of its own: a thread serving one sleeps right after it sends a command, as a blocking
    /// client's does, and the kernel runs the milter thread that send woke on the same core (a synchronous wake-up); a
    /// thread serving two went on to the other connection's reply instead, and the woken milter thread was often sent
    /// to the other core, busy as it was, by an interrupt (at 8 connections on two cores, half as many threads had 0.70
    /// to 0.81 of the C client's throughput against 0.80 to 0.96). Beyond that the threads share the connections
    /// rather than more being started: at 128 connections on two cores, 32 threads serving four each (a thread started
    /// for every four connections, as before) made fewer transactions than 8 serving sixteen each in 19 of 26 rounds,
    /// waited 40 ms more often in 18, and used more CPU per transaction (docs/performance.md). Against a milter that
    /// gives each session a thread of its own (libmilter built without its pool) it is the other way round at 32
    /// connections: a thread per connection made more than four per thread; hence <c>IO_THREADS</c>.
    /// </summary>
    public static int DefaultThreadCount => Math.Clamp(4 * Environment.ProcessorCount, 4, 32);

    private static IoReactor? Start(int threadCount)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var reactor = new IoReactor(threadCount);
        while (reactor.ThreadCount < threadCount)
        {
            if (!reactor.TryStartLoop())
            {
                return reactor.ThreadCount == 0 ? null : reactor; // none at all: .NET's sockets serve; else those started do
            }
        }

        return reactor;
    }

    /// <summary>
    /// Watches the socket for <paramref name="stream"/>, edge-triggered, until <see cref="Unregister"/>, on the thread
    /// that serves the fewest connections.
    /// The connection stays with that thread for its whole life, as with blocking I/O: the scheduler keeps that thread
    /// and the milter's worker for the connection near each other, and the thread's caches of async state stay warm
    /// (measured against one epoll shared by every thread, any thread serving any reply: 10 to 30 % less CPU per
    /// transaction, 30 % less allocation, 20 to 35 % more throughput at 8 and 32 connections).
    /// </summary>
    public Registration Register(ReactorStream stream, Socket socket)
    {
        var id = Interlocked.Increment(ref _lastId); // never reused: an event for a stream gone finds nothing
        var loop = Join();
        _streams[id] = stream;
        var error = Epoll.Add(loop.Epoll, (int)socket.SafeHandle.DangerousGetHandle(),
            Epoll.In | Epoll.Out | Epoll.ReadHangUp | Epoll.EdgeTriggered, id);
        if (error != 0)
        {
            _streams.TryRemove(id, out _);
            Leave(loop);
            throw new SocketException(error);
        }

        return new Registration(id, loop);
    }

    /// <summary>Stops watching; called before the socket is closed, while its descriptor is still its own.</summary>
    public void Unregister(Registration registration, Socket socket)
    {
        if (!_streams.TryRemove(registration.Id, out _))
        {
            return;
        }

        try
        {
            Epoll.Remove(registration.Loop.Epoll, (int)socket.SafeHandle.DangerousGetHandle());
        }
        catch (ObjectDisposedException)
        {
            // Closed already: closing removed it.
        }

        Leave(registration.Loop);
    }

    /// <summary>
    /// Which thread a new connection joins: the index of the one serving the fewest, of those the first from
    /// <paramref name="from"/> on, wrapping round. Ties go round the threads: a connection opened on an I/O thread right
    /// after one closed there (a session per message) goes to the next thread, not back to the same one, which measured
    /// 30 % fewer transactions per second against libmilter, the milter using a third more CPU per message
    /// (docs/performance.md).
    /// </summary>
    internal static int Place(ReadOnlySpan<int> connectionsPerLoop, int from)
    {
        var fewest = from % connectionsPerLoop.Length;
        for (var step = 1; step < connectionsPerLoop.Length; step++)
        {
            var i = (from + step) % connectionsPerLoop.Length;
            if (connectionsPerLoop[i] < connectionsPerLoop[fewest])
            {
                fewest = i;
            }
        }

        return fewest;
    }

    private Loop Join()
    {
        lock (_placing)
        {
            Span<int> counts = stackalloc int[ThreadCount];
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i] = _loops[i].Connections;
            }

            var index = Place(counts, _nextLoop);
            _nextLoop = (index + 1) % counts.Length;
            var loop = _loops[index];
            loop.Connections++;
            return loop;
        }
    }

    private void Leave(Loop loop)
    {
        lock (_placing)
        {
            loop.Connections--;
        }
    }

    /// <summary>Starts one more thread with its own epoll instance; false when the system gives no epoll instance.</summary>
    private bool TryStartLoop()
    {
        var epoll = Epoll.Create(out _);
        if (epoll < 0)
        {
            return false;
        }

        var loop = new Loop(epoll);
        _loops.Add(loop);
        var number = _loops.Count;
        new Thread(() => Run(epoll)) { IsBackground = true, Name = $"milter I/O {number}" }.Start();
        return true;
    }

    private void Run(int epoll)
    {
        var events = new Epoll.EventBuffer(EventsPerWait);
        while (true)
        {
            var count = Epoll.Wait(epoll, events, out var error);
            if (count < 0)
            {
                // Only EBADF, EFAULT or EINVAL, none of which a working instance gives: end this thread rather than
                // spin (the waits it would have served end at their TIMEOUT).
                Trace.TraceError($"SpamFilterMilter: epoll_wait failed with error {error}; an I/O thread stops");
                return;
            }

            for (var i = 0; i < count; i++)
            {
                var (ready, id) = events.Read(i);
                if (_streams.TryGetValue(id, out var stream))
                {
                    stream.OnEvents(ready);
                }
            }
        }
    }

    /// <summary>One I/O thread: its epoll instance and how many connections it serves (under the reactor's lock).</summary>
    internal sealed class Loop(int epoll)
    {
        public int Epoll { get; } = epoll;

        public int Connections { get; set; }
    }

    /// <summary>A connection as the reactor knows it: its id in events, and the thread that serves it.</summary>
    internal readonly record struct Registration(ulong Id, Loop Loop);
}
