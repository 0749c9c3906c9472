namespace SpamFilterMilter.Transport;

/// <summary>A server's circuit breaker state.</summary>
internal enum BreakerState
{
    /// <summary>In service: messages go to it.</summary>
    Closed,

    /// <summary>Out of service after too many consecutive failures: no message goes to it until the back-off is over.</summary>
    Open,

    /// <summary>The back-off is over: one message (the probe) goes to it, and decides whether it is back in service.</summary>
    HalfOpen,
}

/// <summary>
/// One milter server's health (BREAKER_THRESHOLD, BREAKER_BACKOFF, BREAKER_MAX_BACKOFF): after <c>threshold</c>
/// consecutive failures it opens for the back-off, during which no message is sent to the server; then it lets one
/// message through as a probe (half-open). The probe's success closes it; its failure opens it again for twice the
/// back-off, up to the maximum. So a wedged server costs one timeout per back-off, not one per message. Outcomes of
/// messages sent before it opened, which arrive while it is open or half-open, change nothing: only the probe's
/// counts. A threshold of 0 keeps it closed for ever. Thread-safe; time comes from the <see cref="TimeProvider"/>.
/// </summary>
internal sealed class CircuitBreaker
{
    private readonly int _threshold;
    private readonly TimeSpan _backoff;
    private readonly TimeSpan _maxBackoff;
    private readonly TimeProvider _time;
    private readonly Action<BreakerState, BreakerState, TimeSpan>? _changed;
    private readonly Lock _gate = new();
    private BreakerState _state = BreakerState.Closed;
    private int _failures;
    private TimeSpan _currentBackoff;
    private long _openedAt;
    private bool _probing;

    /// <param name="threshold">Consecutive failures that open the breaker; 0 never opens it.</param>
    /// <param name="backoff">How long it stays open the first time.</param>
    /// <param name="maxBackoff">How long it may stay open at most, the back-off doubling after each failed probe.</param>
    /// <param name="time">The clock.</param>
    /// <param name="changed">
    /// Told of every change of state (from, to, and for <see cref="BreakerState.Open"/> the back-off), under the
    /// breaker's lock, so that counts made from it never go out of order.
    /// </param>
    public CircuitBreaker(int threshold, TimeSpan backoff, TimeSpan maxBackoff, TimeProvider time, Action<BreakerState, BreakerState, TimeSpan>? changed = null)
    {
        _threshold = threshold;
        _backoff = _currentBackoff = backoff;
        _maxBackoff = maxBackoff < backoff ? backoff : maxBackoff;
        _time = time;
        _changed = changed;
    }

    /// <summary>The state now (an open breaker whose back-off is over still says <see cref="BreakerState.Open"/> until a message probes it).</summary>
    public BreakerState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Consecutive failures counted while closed.</summary>
    public int ConsecutiveFailures
    {
        get
        {
            lock (_gate)
            {
                return _failures;
            }
        }
    }

    /// <summary>True when the breaker is closed: a message may go to the server.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_gate)
            {
                return _state == BreakerState.Closed;
            }
        }
    }

    /// <summary>The time left until the back-off is over; zero unless open.</summary>
    public TimeSpan BackoffLeft
    {
        get
        {
            lock (_gate)
            {
                return _state == BreakerState.Open ? Max(TimeSpan.Zero, _currentBackoff - _time.GetElapsedTime(_openedAt)) : TimeSpan.Zero;
            }
        }
    }

    /// <summary>Takes the probe's turn: true when it was due (the breaker is then half-open with its probe under way).</summary>
    public bool TryStartProbe()
    {
        lock (_gate)
        {
            if (!IsProbeDue())
            {
                return false;
            }

            if (_state == BreakerState.Open)
            {
                Move(BreakerState.HalfOpen);
            }

            _probing = true;
            return true;
        }
    }

    /// <summary>A message (or session) went well; <paramref name="probe"/>: it was the probe.</summary>
    public void Succeeded(bool probe)
    {
        lock (_gate)
        {
            if (_state == BreakerState.Closed)
            {
                _failures = 0;
            }
            else if (probe && _state == BreakerState.HalfOpen)
            {
                _probing = false;
                _failures = 0;
                _currentBackoff = _backoff;
                Move(BreakerState.Closed);
            }
        }
    }

    /// <summary>The server failed a message; <paramref name="probe"/>: it was the probe.</summary>
    public void Failed(bool probe)
    {
        lock (_gate)
        {
            if (_state == BreakerState.Closed)
            {
                if (_threshold > 0 && ++_failures >= _threshold)
                {
                    Open(_backoff);
                }
            }
            else if (probe && _state == BreakerState.HalfOpen)
            {
                _probing = false;
                Open(Min(_maxBackoff, _currentBackoff * 2));
            }
        }
    }

    /// <summary>The probe ended without telling anything (the host cancelled, say): the next message may probe instead.</summary>
    public void ProbeAbandoned()
    {
        lock (_gate)
        {
            _probing = false;
        }
    }

    private bool IsProbeDue() => _state switch
    {
        BreakerState.Open => _time.GetElapsedTime(_openedAt) >= _currentBackoff,
        BreakerState.HalfOpen => !_probing,
        _ => false,
    };

    private void Open(TimeSpan backoff)
    {
        _currentBackoff = backoff;
        _openedAt = _time.GetTimestamp();
        _failures = 0;
        Move(BreakerState.Open);
    }

    private void Move(BreakerState to)
    {
        var from = _state;
        _state = to;
        _changed?.Invoke(from, to, _currentBackoff);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
