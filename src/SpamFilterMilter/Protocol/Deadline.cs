using System.Diagnostics;

namespace SpamFilterMilter.Protocol;

/// <summary>
/// An absolute point in time by which something must be done, from the monotonic clock. Bounds a
/// sequence of operations as a whole (all connect attempts; all the waits of one message) where a
/// per-operation timeout alone would let the sequence run on.
/// </summary>
internal readonly struct Deadline
{
    private readonly long _expiresAt;

    private Deadline(long expiresAt) => _expiresAt = expiresAt;

    /// <summary>A deadline that never comes.</summary>
    public static Deadline None => new(long.MaxValue);

    /// <summary>The deadline <paramref name="timeout"/> from now.</summary>
    public static Deadline After(TimeSpan timeout) =>
        new(Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Time left; zero once passed.</summary>
    public TimeSpan Remaining => _expiresAt == long.MaxValue
        ? TimeSpan.MaxValue
        : TimeSpan.FromSeconds(Math.Max(0, _expiresAt - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);

    public bool HasPassed => _expiresAt != long.MaxValue && Stopwatch.GetTimestamp() >= _expiresAt;

    /// <summary>The smaller of <paramref name="perOperation"/> and the time left.</summary>
    public TimeSpan Bound(TimeSpan perOperation)
    {
        var remaining = Remaining;
        return remaining < perOperation ? remaining : perOperation;
    }
}

/// <summary>What the protocol layer may ask of the connection under it.</summary>
internal interface IConnectionControl
{
    /// <summary>Sends the pending ACK now (TCP_QUICKACK).</summary>
    void AcknowledgeNow();

    /// <summary>Bounds the next blocking reads and writes (SO_RCVTIMEO, SO_SNDTIMEO).</summary>
    void SetBlockingTimeout(TimeSpan timeout);
}
