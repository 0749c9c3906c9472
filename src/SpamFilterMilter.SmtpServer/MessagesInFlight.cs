namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The messages under way across a server's sessions (from an accepted MAIL to the reply to the final dot, a RSET or the
/// session's end), and whether the server is draining: then no new one may start, and <see cref="DrainAsync"/> completes
/// when the last one ends. One lock, taken once per MAIL and once per message's end: a MAIL either starts before the drain
/// counts (and is waited for) or is refused, never lost between the two.
/// </summary>
internal sealed class MessagesInFlight
{
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _count;
    private bool _draining;

    /// <summary>How many messages are under way.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>True once <see cref="DrainAsync"/> was called: new sessions and new messages are refused.</summary>
    public bool IsDraining
    {
        get
        {
            lock (_lock)
            {
                return _draining;
            }
        }
    }

    /// <summary>Counts a new message; false when the server is draining (the MAIL is refused instead).</summary>
    public bool TryBegin()
    {
        lock (_lock)
        {
            if (_draining)
            {
                return false;
            }

            _count++;
            return true;
        }
    }

    /// <summary>A message counted by <see cref="TryBegin"/> is over (answered, reset, or its session gone).</summary>
    public void End()
    {
        lock (_lock)
        {
            _count--;
            if (_draining && _count == 0)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Refuses new messages from now on and waits for those under way: true once none is left, false when
    /// <paramref name="cancellationToken"/> fires first.
    /// </summary>
    public async Task<bool> DrainAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _draining = true;
            if (_count == 0)
            {
                _drained.TrySetResult();
            }
        }

        try
        {
            await _drained.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
