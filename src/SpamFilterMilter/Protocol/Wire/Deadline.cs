using System.Diagnostics;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// An absolute point in time by which something must be done, from the monotonic clock. Bounds a
/// sequence of operations as a whole (all the connect attempts to every address of HOST) where a
/// per-operation timeout alone would let the sequence run on. (A message's MESSAGE_TIMEOUT is a
/// budget of the milter's own waiting instead, kept by the session.)
/// </summary>
internal readonly struct Deadline
{
    private readonly long _expiresAt;

    private Deadline(long expiresAt) => _expiresAt = expiresAt;

    /// <summary>The deadline <paramref name="timeout"/> from now.</summary>
    public static Deadline After(TimeSpan timeout) =>
        new(Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Time left; zero once passed.</summary>
    public TimeSpan Remaining =>
        TimeSpan.FromSeconds(Math.Max(0, _expiresAt - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
}
