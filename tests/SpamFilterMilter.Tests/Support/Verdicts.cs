using SpamFilterMilter.Options;
using SpamFilterMilter.Verdicts;

namespace SpamFilterMilter.Tests.Support;

/// <summary>Verdicts made the way the plug-in makes them (<see cref="TransactionVerdictBuilder"/>), from the facts a test names.</summary>
internal static class Verdicts
{
    /// <summary>The verdict for a message the milter decided at the end, with these recipient decisions recorded at RCPT first.</summary>
    public static FilterVerdict Decided(FilterAction action, SmtpReply? reply = null, IReadOnlyList<MessageEdit>? edits = null,
        string? quarantine = null, IReadOnlyList<RecipientDecision>? recipients = null)
    {
        var builder = new TransactionVerdictBuilder(FailureAction.TempFail, recordRecipients: true);
        builder.StartMessage();
        foreach (var recipient in recipients ?? [])
        {
            builder.Recipient(recipient.Address, new StageDecision { Stage = FilterStage.Rcpt, Action = recipient.Action, Reply = recipient.Reply });
        }

        return builder.Decided(action, reply, edits ?? [], quarantine, FilterStage.EndOfMessage);
    }

    /// <summary>The verdict when the milter failed, with <paramref name="policy"/> as FAILURE_ACTION.</summary>
    public static FilterVerdict Failed(FilterFailure failure, FailureAction policy) =>
        new TransactionVerdictBuilder(policy, recordRecipients: false).Failed(failure);
}
