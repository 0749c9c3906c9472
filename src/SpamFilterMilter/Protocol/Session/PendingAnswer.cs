using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// An event of <see cref="MilterSession"/> split at its answer, so that a caller finishes the event with the session's
/// <c>Complete…</c> method in its own <see cref="IAnswerContinuation{TResult}"/>, run by the channel's method that read
/// the answer: a reply then resumes two methods fewer (each costs CPU when the reply comes; docs/performance.md).
/// Either the session decided without asking the milter (<see cref="Decided"/>), or <see cref="Answer"/> is the
/// continuation's result.
/// </summary>
internal readonly struct PendingAnswer<TResult>
{
    public PendingAnswer(MilterResponse decided) => Decided = decided;

    public PendingAnswer(ValueTask<TResult> answer) => Answer = answer;

    /// <summary>What the session decided without asking; null when <see cref="Answer"/> is to be awaited.</summary>
    public MilterResponse? Decided { get; }

    /// <summary>The continuation's result, when <see cref="Decided"/> is null.</summary>
    public ValueTask<TResult> Answer { get; }
}
