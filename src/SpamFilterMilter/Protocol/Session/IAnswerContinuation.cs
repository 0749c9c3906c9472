using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// What becomes of the answer to an exchange, run by the method that read it (<see cref="MilterChannel"/>): the reply
/// then resumes that method and the caller awaiting its result, not a chain of methods each awaiting the next (each
/// costs CPU when the reply comes: docs/performance.md). <see cref="AnswerItself"/> hands the answer on as it is.
/// </summary>
internal interface IAnswerContinuation<TResult>
{
    /// <summary>The exchange's answer (<see cref="MilterAnswer.NoReply"/> when none was asked for).</summary>
    TResult Answered(MilterAnswer answer);

    /// <summary>The exchange failed and the connection is broken (<paramref name="failure"/>, as the channel remembers it, or the host's cancellation): a result, or throw.</summary>
    TResult Failed(Exception failure);
}

/// <summary>The answer as it is, a failure thrown: for a caller that awaits the answer itself.</summary>
internal sealed class AnswerItself : IAnswerContinuation<MilterAnswer>
{
    public static readonly AnswerItself Instance = new();

    private AnswerItself()
    {
    }

    public MilterAnswer Answered(MilterAnswer answer) => answer;

    public MilterAnswer Failed(Exception failure) => throw failure;
}
