using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// An event of <see cref="MilterSession"/> split at its answer, so that a caller can await the channel's answer itself and
/// finish the event with the session's <c>Complete…</c> method: one method fewer suspended per reply (each costs CPU
/// when the reply comes; docs/performance.md). Either the session decided without asking the milter
/// (<see cref="Decided"/>) or the milter's <see cref="Answer"/> is awaited.
/// </summary>
internal readonly struct PendingAnswer
{
    public PendingAnswer(MilterResponse decided) => Decided = decided;

    public PendingAnswer(ValueTask<MilterAnswer> answer) => Answer = answer;

    /// <summary>What the session decided without asking; null when <see cref="Answer"/> is to be awaited.</summary>
    public MilterResponse? Decided { get; }

    /// <summary>The milter's answer, when <see cref="Decided"/> is null.</summary>
    public ValueTask<MilterAnswer> Answer { get; }
}
