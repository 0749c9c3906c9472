namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// Bounds one connection's asynchronous waits, one at a time, with one token for the life of the connection: the token
/// is cancelled when a wait outlives its bound (or the host cancels, <see cref="Cancel"/>), and never otherwise.
/// Starting and ending a wait only note its deadline: the timer is moved only when a wait must end before the timer
/// would fire; when it fires early (the bound of a finished wait, say), it looks at the wait under way and sleeps again
/// until that one's deadline. A CancellationTokenSource armed per wait (CancelAfter, then TryReset) moved the runtime's
/// timer twice per wait, under its queue's lock: at 8 connections, 2.8 µs per transaction of the client's CPU (perf).
/// A token once cancelled stays so; the connection is broken then (<see cref="MilterChannel"/>), and the next wait, if
/// any, gets a new one.
/// </summary>
internal sealed class WaitTimer : IDisposable
{
    private const long None = long.MaxValue;
    private const double LongestBoundSeconds = 366 * 86400.0; // far beyond any TIMEOUT; keeps the arithmetic in range

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private CancellationTokenSource _expired = new();
    private long _deadline = None; // of the wait under way, in the clock's timestamps
    private long _due = None; // when the timer fires next

    public WaitTimer(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _timer = _time.CreateTimer(static s => ((WaitTimer)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Starts a wait that must end within <paramref name="bound"/> (at once when it is not positive); the token to wait with.</summary>
    public CancellationToken Start(TimeSpan bound)
    {
        var now = _time.GetTimestamp();
        var deadline = now + (long)(Math.Clamp(bound.TotalSeconds, 0, LongestBoundSeconds) * _time.TimestampFrequency);
        lock (_gate)
        {
            var token = Renewed();
            _deadline = deadline;
            if (deadline < _due)
            {
                Schedule(deadline, now);
            }

            return token;
        }
    }

    /// <summary>
    /// The token the next wait gets, without starting one: for an attempt that mostly needs no wait at all (a write the
    /// socket takes at once). If it does wait, <see cref="Start"/> then bounds it: the token is the same, unless the host
    /// cancelled meanwhile, and then this one is cancelled too.
    /// </summary>
    public CancellationToken NextToken()
    {
        var current = Volatile.Read(ref _expired);
        if (!current.IsCancellationRequested)
        {
            return current.Token;
        }

        lock (_gate)
        {
            return Renewed();
        }
    }

    /// <summary>
    /// The token of the source in use, or of a new one when that was cancelled: a wait after a cancellation (by a bound
    /// that passed, or the host) is not born cancelled. Under the lock.
    /// </summary>
    private CancellationToken Renewed()
    {
        if (_expired.IsCancellationRequested)
        {
            _expired.Dispose();
            _expired = new CancellationTokenSource();
        }

        return _expired.Token;
    }

    /// <summary>
    /// The wait ended: the timer, whenever it fires, finds nothing to bound. Without the lock: a timer that read the
    /// deadline just before can only cancel the token of this wait, which has ended; the next <see cref="Start"/> then
    /// takes a new one.
    /// </summary>
    public void Stop() => Volatile.Write(ref _deadline, None);

    /// <summary>Cancels the wait under way now (the host cancelled).</summary>
    public void Cancel()
    {
        lock (_gate)
        {
            _expired.Cancel(); // its callbacks only mark a parked operation failed and hand it to the thread pool
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        lock (_gate)
        {
            _expired.Dispose();
        }
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            _due = None;
            if (_deadline == None)
            {
                return; // no wait under way: the next one schedules the timer
            }

            var now = _time.GetTimestamp();
            if (now < _deadline)
            {
                Schedule(_deadline, now);
                return;
            }

            // Under the lock: a wait started after this one ended must not be cancelled for it.
            _expired.Cancel();
        }
    }

    private void Schedule(long deadline, long now)
    {
        _due = deadline;
        var milliseconds = Math.Ceiling((deadline - now) * 1000.0 / _time.TimestampFrequency);
        try
        {
            _timer.Change(TimeSpan.FromMilliseconds(Math.Clamp(milliseconds, 0, 0xFFFFFFFE)), Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The connection is being disposed: nothing more is waited for.
        }
    }
}
