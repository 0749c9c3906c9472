using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Verdicts;

/// <summary>
/// The one place a <see cref="FilterVerdict"/> is made: from what the milter decided about a message (its
/// decision, reply, edits, quarantine request, the stage it decided at and, for whole-message filtering, each
/// recipient's decision at RCPT), or from a failure and the configured failure action. The verdict's string is
/// <see cref="ActionStringWriter"/>'s. One per session; <see cref="StartMessage"/> begins each message.
/// </summary>
internal sealed class TransactionVerdictBuilder(FailureAction failurePolicy, bool recordRecipients)
{
    private static readonly FilterVerdict DefaultAtEndOfMessage = FilterVerdict.Default with { DecidedAt = FilterStage.EndOfMessage };

    private List<RecipientDecision>? _recipients;

    /// <summary>The action and reply every call gets once the milter failed (FAILURE_ACTION).</summary>
    public (FilterAction Action, SmtpReply? Reply) FailureOutcome { get; } = FailureActions.Resolve(failurePolicy);

    /// <summary>True when there were recipients and the milter refused every one of them at RCPT.</summary>
    public bool AllRecipientsRefused =>
        _recipients is { Count: > 0 } recipients && recipients.TrueForAll(r => r.Action is FilterAction.Reject or FilterAction.TempFail);

    private IReadOnlyList<RecipientDecision> Recipients => _recipients is null ? [] : _recipients;

    /// <summary>A new message: the recipients of the last one are forgotten.</summary>
    public void StartMessage() => _recipients = null;

    /// <summary>
    /// The milter's decision on one recipient, kept for the verdict when this builder records recipients (whole-message
    /// filtering): a refusal with its reply, otherwise accept or continue.
    /// </summary>
    public void Recipient(string address, StageDecision decision)
    {
        if (!recordRecipients || decision.Failure is not null)
        {
            return;
        }

        (_recipients ??= []).Add(decision.Action is FilterAction.Reject or FilterAction.TempFail
            ? new RecipientDecision(address, decision.Action, decision.Reply)
            : new RecipientDecision(address, decision.Action == FilterAction.Accept ? FilterAction.Accept : FilterAction.Continue, null));
    }

    /// <summary>The verdict for a message the milter decided (at <paramref name="decidedAt"/>). Accepting without edits is the default verdict.</summary>
    public FilterVerdict Decided(FilterAction action, SmtpReply? reply, IReadOnlyList<MessageEdit> edits, string? quarantineReason, FilterStage decidedAt)
    {
        var recipients = Recipients;
        if (action is FilterAction.Accept or FilterAction.Continue && edits.Count == 0 && quarantineReason is null && recipients.Count == 0)
        {
            // The common case, once per message: nothing to do. No script to build.
            return decidedAt == FilterStage.EndOfMessage ? DefaultAtEndOfMessage : FilterVerdict.Default with { DecidedAt = decidedAt };
        }

        var text = ActionStringWriter.Write(action, reply, edits, recipients, quarantineReason);
        var disposition = action == FilterAction.Continue ? FilterAction.Accept : action;
        if (disposition != FilterAction.Accept)
        {
            DisposeBodies(edits); // a refused or discarded message keeps no edit: nobody else will see these bodies
        }

        return new FilterVerdict
        {
            Kind = text is null ? VerdictKind.Default : VerdictKind.String,
            Text = text,
            Action = disposition,
            Reply = disposition switch
            {
                FilterAction.Reject => reply ?? SmtpReply.DefaultReject,
                FilterAction.TempFail => reply ?? SmtpReply.DefaultTempFail,
                _ => null,
            },
            Edits = disposition == FilterAction.Accept ? edits : [],
            QuarantineReason = disposition == FilterAction.Accept ? quarantineReason : null,
            Recipients = recipients,
            DecidedAt = decidedAt,
        };
    }

    /// <summary>Disposes the replacement bodies of edits no verdict carries (their temporary files go).</summary>
    public static void DisposeBodies(IReadOnlyList<MessageEdit> edits)
    {
        foreach (var edit in edits)
        {
            (edit as ReplaceBody)?.Body.Dispose();
        }
    }

    /// <summary>The verdict when the milter refused every recipient: the message goes nowhere. A temporary refusal wins, so that the sender retries.</summary>
    public FilterVerdict AllRefused()
    {
        var deciding = _recipients!.Find(r => r.Action == FilterAction.TempFail) ?? _recipients[^1];
        return Decided(deciding.Action, deciding.Reply, [], null, FilterStage.Rcpt);
    }

    /// <summary>
    /// The verdict when the milter could not be used: kind <see cref="VerdictKind.Failure"/> so that the host's
    /// <c>spamfilterX_optional</c> can decide, with the configured failure action as its action string, after a
    /// comment that names the failure.
    /// </summary>
    public FilterVerdict Failed(FilterFailure failure) => new()
    {
        Kind = VerdictKind.Failure,
        Text = ActionStringWriter.WriteFailure(failure, FailureOutcome.Action, FailureOutcome.Reply),
        Action = FailureOutcome.Action,
        Reply = FailureOutcome.Reply,
        Failure = failure,
        DecidedAt = failure.Stage,
    };
}
