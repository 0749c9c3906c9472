namespace SpamFilterMilter.Contract;

/// <summary>What a filter decided at one stage, or for the message as a whole.</summary>
public enum FilterAction
{
    /// <summary>Go on: send the next stage. At the end of the message, same as <see cref="Accept"/>.</summary>
    Continue,

    /// <summary>Accept without further filtering: the rest of the connection (at connect or HELO) or of the message.</summary>
    Accept,

    /// <summary>Refuse permanently with a 5xx reply: the connection (connect, HELO), the recipient (RCPT) or the message.</summary>
    Reject,

    /// <summary>Refuse temporarily with a 4xx reply, with the same scope as <see cref="Reject"/>.</summary>
    TempFail,

    /// <summary>Accept the message, then silently drop it.</summary>
    Discard,
}

/// <summary>The kinds of verdict a Messaging Server spam-filter plug-in returns.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name",
    Justification = "Null and String are Messaging Server's own names for these verdicts (spamfilterX_null_action, spamfilterX_string_action).")]
public enum VerdictKind
{
    /// <summary>Nothing to do: deliver normally. No action runs.</summary>
    Default,

    /// <summary>A null verdict: the host runs <c>spamfilterX_null_action</c>.</summary>
    Null,

    /// <summary>A string verdict (<see cref="FilterVerdict.Text"/>): matched against <c>spamfilterX_verdict_M</c>, else <c>spamfilterX_string_action</c> with <c>$U</c> = the string.</summary>
    String,

    /// <summary>
    /// The filter could not be used (unreachable, timed out, broke the protocol). <see cref="FilterVerdict.Failure"/>
    /// says why; <see cref="FilterVerdict.Action"/> and <see cref="FilterVerdict.Text"/> carry the plug-in's
    /// configured failure action; the host's <c>spamfilterX_optional</c> decides whether to apply it.
    /// </summary>
    Failure,
}

/// <summary>Why a filter could not be used.</summary>
/// <param name="Endpoint">The filter endpoint, e.g. <c>milter 127.0.0.1:8890</c>.</param>
/// <param name="Stage">
/// The stage that failed; null when the failure did not come from a stage (the host could not load or create the
/// plug-in, say).
/// </param>
/// <param name="Cause">What went wrong, in one sentence (naming the protocol step, e.g. <c>can't read SMFIC_BODYEOB reply packet header</c>).</param>
public sealed record FilterFailure(string Endpoint, FilterStage? Stage, string Cause)
{
    /// <summary>One line: <c>endpoint: stage: cause</c>.</summary>
    public override string ToString() => Stage is { } stage ? $"{Endpoint}: {stage.ToName()}: {Cause}" : $"{Endpoint}: {Cause}";
}

/// <summary>The filter's decision for one stage of a session.</summary>
public sealed record StageDecision
{
    private static readonly StageDecision[] Continues =
        [.. Enum.GetValues<FilterStage>().Select(stage => new StageDecision { Stage = stage, Action = FilterAction.Continue })];

    /// <summary>Continue at <paramref name="stage"/>, with nothing else to say (one shared instance per stage).</summary>
    public static StageDecision ContinueAt(FilterStage stage) => Continues[(int)stage];

    /// <summary>The stage this decision answers.</summary>
    public FilterStage Stage { get; init; }

    /// <summary>What to do.</summary>
    public FilterAction Action { get; init; }

    /// <summary>For <see cref="FilterAction.Reject"/> and <see cref="FilterAction.TempFail"/>: the SMTP reply to give. A <c>421</c> reply means: close the SMTP session.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>When the filter failed, why; <see cref="Action"/> is then the configured failure action.</summary>
    public FilterFailure? Failure { get; init; }

    /// <summary>A quarantine request made before the end of the message (Postfix allows it at any stage).</summary>
    public string? QuarantineReason { get; init; }

    /// <summary>
    /// What the decision applies to (<see cref="DecisionRules.ScopeOf"/>): this command, the message or the rest of
    /// the session. A failure holds for the rest of the session: every later call answers with it.
    /// </summary>
    public DecisionScope Scope => Failure is not null ? DecisionScope.Session : DecisionRules.ScopeOf(Stage, Action, Reply);

    /// <summary>True when the SMTP server must close the session after giving <see cref="Reply"/> (a 421 reply).</summary>
    public bool ClosesSession => Reply is { Code: 421 };
}

/// <summary>What happened to one envelope recipient.</summary>
/// <param name="Address">The recipient as given.</param>
/// <param name="Action">The filter's decision at RCPT.</param>
/// <param name="Reply">The reply for a rejected or tempfailed recipient.</param>
public sealed record RecipientDecision(string Address, FilterAction Action, SmtpReply? Reply);

/// <summary>
/// The end result for one message. <see cref="Kind"/> and <see cref="Text"/> are the Messaging Server
/// verdict; the other properties carry the same facts in structured form.
/// </summary>
public sealed record FilterVerdict
{
    /// <summary>The Messaging Server verdict kind.</summary>
    public VerdictKind Kind { get; init; }

    /// <summary>The string verdict: the action string (a Sieve scriptlet). Null for <see cref="VerdictKind.Default"/>.</summary>
    public string? Text { get; init; }

    /// <summary>The disposition: <see cref="FilterAction.Accept"/> (deliver, after the edits), reject, tempfail or discard.</summary>
    public FilterAction Action { get; init; } = FilterAction.Accept;

    /// <summary>The SMTP reply for reject and tempfail.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>The edits to apply, in the order the filter asked for them.</summary>
    public IReadOnlyList<MessageEdit> Edits { get; init; } = [];

    /// <summary>Set when the filter asked to quarantine (hold) the message.</summary>
    public string? QuarantineReason { get; init; }

    /// <summary>Per-recipient decisions made at RCPT (whole-message filtering only).</summary>
    public IReadOnlyList<RecipientDecision> Recipients { get; init; } = [];

    /// <summary>The stage at which the filter decided (or failed); null only for <see cref="Default"/> itself.</summary>
    public FilterStage? DecidedAt { get; init; }

    /// <summary>For <see cref="VerdictKind.Failure"/>: why the filter could not be used.</summary>
    public FilterFailure? Failure { get; init; }

    /// <summary>The verdict that means "nothing to do".</summary>
    public static FilterVerdict Default { get; } = new() { Kind = VerdictKind.Default };

    /// <summary>
    /// The body the verdict's edits leave: the body of its last <see cref="ReplaceBody"/> (a milter sends one), or null
    /// when it replaces none: what the action string's <c>replacebody :verdict</c> stands for.
    /// </summary>
    public MessageBody? ReplacementBody => Edits.OfType<ReplaceBody>().LastOrDefault()?.Body;

    /// <summary>
    /// Disposes the bodies of this verdict's <see cref="ReplaceBody"/> edits (<see cref="MessageBody.Dispose"/>: a large
    /// one's temporary file). The receiver of a verdict owns them: the host library calls this once it has applied the
    /// verdict; a host that calls a plug-in itself calls it once it is done with <see cref="Edits"/>.
    /// </summary>
    public void DisposeBodies()
    {
        foreach (var edit in Edits)
        {
            (edit as ReplaceBody)?.Body.Dispose();
        }
    }
}
