using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace SpamFilterMilter.Transport;

/// <summary>
/// The plug-in's own event loop for its milter sockets with <c>IO_MODE=async</c> on Linux: a few threads, each waiting
/// on its own epoll instance for the connections dealt to it, and each reply handed to the session that waits for it
/// on the thread that saw it arrive.
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

    private static readonly Lazy<IoReactor?> SharedReactor = new(Start);

    private readonly int[] _epolls; // one per thread
    private readonly ConcurrentDictionary<ulong, ReactorStream> _streams = new();
    private ulong _lastId;

    private IoReactor(int[] epolls)
    {
        _epolls = epolls;
        for (var i = 0; i < epolls.Length; i++)
        {
            var epoll = epolls[i];
            new Thread(() => Run(epoll)) { IsBackground = true, Name = $"milter I/O {i + 1}" }.Start();
        }
    }

    /// <summary>
    /// The epoll instance, and so the thread, that serves a connection for its whole life (connections dealt out in
    /// turn). Always the same thread, as with blocking I/O: the scheduler keeps that thread and the milter's worker
    /// for the connection near each other, and the thread's caches of async state stay warm. Measured against one
    /// epoll shared by every thread (any thread serving any reply): 10 to 30 % less CPU per transaction, 30 % less
    /// allocation, 20 to 35 % more throughput at 8 and 32 connections.
    /// </summary>
    private int EpollOf(ulong id) => _epolls[(int)(id % (ulong)_epolls.Length)];

    /// <summary>
    /// The runtime switch (<c>runtimeconfig.json</c>'s <c>configProperties</c>, or <see cref="AppContext.SetSwitch"/>
    /// before connections are made) with which a host keeps .NET's own sockets for async I/O: for a host whose code may
    /// block after an await, which would hold up the other connections one of the reactor's threads serves.
    /// </summary>
    public const string UseDotNetSocketsSwitch = "SpamFilterMilter.UseDotNetSocketsForAsyncIo";

    /// <summary>The process's reactor; null where there is none (not Linux, or no epoll), and .NET's sockets serve.</summary>
    public static IoReactor? Shared => SharedReactor.Value;

    /// <summary>
    /// The reactor a new async connection is served by: null where there is none or the host set
    /// <see cref="UseDotNetSocketsSwitch"/> (read at each connect; no thread is started while the switch is set).
    /// </summary>
    public static IoReactor? ForNewConnection =>
        AppContext.TryGetSwitch(UseDotNetSocketsSwitch, out var useDotNetSockets) && useDotNetSockets ? null : Shared;

    /// <summary>
    /// Threads of the reactor, each with its own epoll instance and connections: two per core, at least 4, so that a
    /// thread the scheduler preempts (the milter just woken runs on the same cores), or a host's code holds, holds
    /// up only its share of the connections.
    /// </summary>
    public static int ThreadCount => Math.Clamp(2 * Environment.ProcessorCount, 4, 32);

    private static IoReactor? Start()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var epolls = new int[ThreadCount];
        for (var i = 0; i < epolls.Length; i++)
        {
            epolls[i] = Epoll.Create(out _);
            if (epolls[i] < 0)
            {
                return null; // no epoll here (nothing was started, and the few descriptors made stay unused)
            }
        }

        return new IoReactor(epolls);
    }

    /// <summary>Watches the socket for <paramref name="stream"/>, edge-triggered, until <see cref="Unregister"/>.</summary>
    public ulong Register(ReactorStream stream, Socket socket)
    {
        var id = Interlocked.Increment(ref _lastId); // never reused: an event for a stream gone finds nothing
        _streams[id] = stream;
        var error = Epoll.Add(EpollOf(id), (int)socket.SafeHandle.DangerousGetHandle(),
            Epoll.In | Epoll.Out | Epoll.ReadHangUp | Epoll.EdgeTriggered, id);
        if (error != 0)
        {
            _streams.TryRemove(id, out _);
            throw new SocketException(error);
        }

        return id;
    }

    /// <summary>Stops watching; called before the socket is closed, while its descriptor is still its own.</summary>
    public void Unregister(ulong id, Socket socket)
    {
        if (_streams.TryRemove(id, out _))
        {
            try
            {
                Epoll.Remove(EpollOf(id), (int)socket.SafeHandle.DangerousGetHandle());
            }
            catch (ObjectDisposedException)
            {
                // Closed already: closing removed it.
            }
        }
    }

    private void Run(int epoll)
    {
        var events = new byte[Epoll.EventSize * EventsPerWait];
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
                var (ready, id) = Epoll.Read(events, i);
                if (_streams.TryGetValue(id, out var stream))
                {
                    stream.OnEvents(ready);
                }
            }
        }
    }
}
