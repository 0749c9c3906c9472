using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>A milter's decision on one event, after the protocol rules were applied.</summary>
/// <param name="Action">What the milter decided.</param>
/// <param name="Reply">The SMTP reply for reject and tempfail.</param>
/// <param name="Skip">The milter answered SMFIR_SKIP: further events of this kind are not sent.</param>
internal readonly record struct MilterResponse(FilterAction Action, SmtpReply? Reply = null, bool Skip = false)
{
    public static MilterResponse Continue => default;

    public static MilterResponse Accept => new(FilterAction.Accept);
}

/// <summary>Everything the milter sent in answer to one event: its decision, a quarantine request, and (at the end of the message) its edits.</summary>
/// <param name="Response">The decision.</param>
/// <param name="QuarantineReason">The reason of the last SMFIR_QUARANTINE sent with this answer, or null.</param>
/// <param name="Edits">The modifications, in the order sent (end of message only; empty otherwise).</param>
/// <param name="Answering">The command sent that this answers (read, or owed none by an NR_* step); null for an event not sent at all (<see cref="NotSent"/>).</param>
/// <param name="DecidedBy">The wire code of the decision (<c>SMFIR_CONTINUE</c> and <c>SMFIR_ACCEPT</c> both mean accept at the end of the message, but leave libmilter in different states); null when no answer was read.</param>
internal readonly record struct MilterAnswer(MilterResponse Response, string? QuarantineReason, IReadOnlyList<MessageEdit> Edits, Wire.MilterCommand? Answering,
    Wire.MilterReply? DecidedBy = null)
{
    /// <summary>CONTINUE with nothing else: <paramref name="command"/> went out, and its NR_* step owes no answer.</summary>
    public static MilterAnswer NoReply(Wire.MilterCommand command) => new(MilterResponse.Continue, null, [], command);

    /// <summary>CONTINUE for an event that was not sent at all (the milter's NO* step): libmilter's state is as it was.</summary>
    public static MilterAnswer NotSent => new(MilterResponse.Continue, null, [], Answering: null);
}
