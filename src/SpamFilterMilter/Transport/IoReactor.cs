using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace SpamFilterMilter.Transport;

/// <summary>
/// The plug-in's own event loop for its milter sockets with <c>IO_MODE=async</c> on Linux: one epoll instance, a few
/// threads waiting on it, and each reply handed to the session that waits for it on the thread that saw it arrive.
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
    // One event per wait: the other events stay for the other threads, so a thread that the scheduler preempts (the
    // milter we just woke runs on the same cores) holds up only the connection it is serving, as a blocking client's
    // thread does. Measured at 32 connections against libmilter, batches of 8 on 2 threads had 1.5 to 5 times the p99.
    private const int EventsPerWait = 1;

    private static readonly Lazy<IoReactor?> SharedReactor = new(Start);

    private readonly int _epoll;
    private readonly ConcurrentDictionary<ulong, ReactorStream> _streams = new();
    private ulong _lastId;

    private IoReactor(int epoll, int threads)
    {
        _epoll = epoll;
        for (var i = 0; i < threads; i++)
        {
            new Thread(Run) { IsBackground = true, Name = $"milter I/O {i + 1}" }.Start();
        }
    }

    /// <summary>The process's reactor; null where there is none (not Linux, or no epoll), and .NET's sockets serve.</summary>
    public static IoReactor? Shared => SharedReactor.Value;

    /// <summary>
    /// Threads waiting on the reactor: two per core, at least 4, so that one is free when others are preempted or
    /// held by a host's code; each reply wakes one of them (more did not help on 2 cores: 8 had more waits than 4).
    /// </summary>
    public static int ThreadCount => Math.Clamp(2 * Environment.ProcessorCount, 4, 32);

    private static IoReactor? Start()
    {
        if (!OperatingSystem.IsLinux() || AppContext.TryGetSwitch("SpamFilterMilter.UseDotNetSocketsForAsyncIo", out var off) && off)
        {
            return null;
        }

        var epoll = Epoll.Create(out _);
        return epoll < 0 ? null : new IoReactor(epoll, ThreadCount);
    }

    /// <summary>Watches the socket for <paramref name="stream"/>, edge-triggered, until <see cref="Unregister"/>.</summary>
    public ulong Register(ReactorStream stream, Socket socket)
    {
        var id = Interlocked.Increment(ref _lastId); // never reused: an event for a stream gone finds nothing
        _streams[id] = stream;
        var error = Epoll.Add(_epoll, (int)socket.SafeHandle.DangerousGetHandle(),
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
                Epoll.Remove(_epoll, (int)socket.SafeHandle.DangerousGetHandle());
            }
            catch (ObjectDisposedException)
            {
                // Closed already: closing removed it.
            }
        }
    }

    private void Run()
    {
        var events = new byte[Epoll.EventSize * EventsPerWait];
        while (true)
        {
            var count = Epoll.Wait(_epoll, events, out var error);
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
