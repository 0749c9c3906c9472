using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// <see cref="SessionDecisions"/> on its own: what SKIP turns off, which decisions it keeps and for how long, by the
/// one scope rule (<see cref="DecisionRules.ScopeOf"/>, tested in the Contract's tests).
/// </summary>
public class SessionDecisionsTests
{
    private static readonly MilterResponse Skip = new(FilterAction.Continue, Skip: true);
    private static readonly MilterResponse Reject = new(FilterAction.Reject, SmtpReply.DefaultReject);
    private static readonly MilterResponse Closing = new(FilterAction.TempFail, new SmtpReply(421, "4.7.0", "closing"));

    private static (bool Recipients, bool Headers, bool Body) Skipped(SessionDecisions decisions) =>
        (decisions.SkipRecipients, decisions.SkipHeaders, decisions.SkipBody);

    [TestCase(FilterStage.Rcpt, true, false, false)]
    [TestCase(FilterStage.Header, false, true, false)]
    [TestCase(FilterStage.Body, false, false, true)]
    [TestCase(FilterStage.Mail, false, false, false)]
    [TestCase(FilterStage.EndOfHeaders, false, false, false)]
    [TestCase(FilterStage.EndOfMessage, false, false, false)]
    public void SKIP_turns_off_the_events_of_its_stage_and_answers_continue(FilterStage stage, bool recipients, bool headers, bool body)
    {
        var decisions = new SessionDecisions();

        var seen = decisions.Apply(stage, Skip);

        Assert.That(seen, Is.EqualTo(MilterResponse.Continue));
        Assert.That(Skipped(decisions), Is.EqualTo((recipients, headers, body)));
        Assert.That(decisions.Decided, Is.Null, "SKIP decides nothing");
    }

    private static IEnumerable<TestCaseData> EveryStageAndAction() =>
        from stage in Enum.GetValues<FilterStage>()
        from action in Enum.GetValues<FilterAction>()
        select new TestCaseData(stage, action).SetArgDisplayNames(stage.ToName(), action.ToString());

    [TestCaseSource(nameof(EveryStageAndAction))]
    public void A_decision_is_kept_for_what_its_scope_says(FilterStage stage, FilterAction action)
    {
        var decisions = new SessionDecisions();
        var response = new MilterResponse(action);

        var seen = decisions.Apply(stage, response);
        var forMessage = decisions.Decided;
        decisions.StartMessage();

        var scope = DecisionRules.ScopeOf(stage, action, null);
        Assert.That(seen, Is.EqualTo(response), "the caller sees the response itself");
        Assert.That(forMessage, Is.EqualTo(scope is DecisionScope.Message or DecisionScope.Session ? response : null), $"{scope}: held for the rest of the message");
        Assert.That(decisions.Decided, Is.EqualTo(scope == DecisionScope.Session ? response : null), $"{scope}: held beyond the message");
        Assert.That(decisions.ForConnection, Is.EqualTo(scope == DecisionScope.Session ? response : null));
        Assert.That(decisions.DecidedAt, Is.EqualTo(scope == DecisionScope.Session ? stage : FilterStage.EndOfMessage), "where the decision that holds was made");
    }

    [Test]
    public void A_421_anywhere_holds_for_the_connection()
    {
        var decisions = new SessionDecisions();

        decisions.Apply(FilterStage.Body, Closing);
        decisions.StartMessage();

        Assert.That((decisions.ForConnection, decisions.DecidedAt), Is.EqualTo(((MilterResponse?)Closing, FilterStage.Body)));
    }

    [Test]
    public void The_first_decision_for_the_connection_stays_the_one_that_holds()
    {
        var decisions = new SessionDecisions();
        decisions.Apply(FilterStage.Connect, Closing);

        decisions.Apply(FilterStage.Helo, Reject);

        Assert.That((decisions.ForConnection, decisions.DecidedAt), Is.EqualTo(((MilterResponse?)Closing, FilterStage.Connect)));
    }

    [Test]
    public void A_decision_for_the_message_ends_with_it()
    {
        var decisions = new SessionDecisions();
        decisions.Apply(FilterStage.Mail, Reject);

        decisions.EndMessage();

        Assert.That(decisions.Decided, Is.Null);
    }

    [Test]
    public void A_new_message_forgets_skips_and_quarantine_of_the_last()
    {
        var decisions = new SessionDecisions();
        decisions.Apply(FilterStage.Rcpt, Skip);
        decisions.Apply(FilterStage.Header, Skip);
        decisions.Apply(FilterStage.Body, Skip);
        decisions.Quarantine("held");

        decisions.StartMessage();

        Assert.That((Skipped(decisions), decisions.QuarantineReason), Is.EqualTo(((false, false, false), (string?)null)));
    }

    [Test]
    public void The_last_quarantine_reason_given_wins_and_none_changes_nothing()
    {
        var decisions = new SessionDecisions();

        decisions.Quarantine("first");
        decisions.Quarantine("second");
        decisions.Quarantine(null);

        Assert.That(decisions.QuarantineReason, Is.EqualTo("second"));
    }
}
