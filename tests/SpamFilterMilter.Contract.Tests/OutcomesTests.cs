namespace SpamFilterMilter.Contract.Tests;

/// <summary>What a stage decision and a failure say about themselves (Outcomes.cs).</summary>
public class OutcomesTests
{
    private static readonly FilterFailure Failure = new("milter 127.0.0.1:8890", FilterStage.Rcpt, "can't read packet header");

    private static IEnumerable<TestCaseData> Decisions()
    {
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Rcpt, Action = FilterAction.Reject, Reply = SmtpReply.DefaultReject },
            DecisionScope.Command, false).SetArgDisplayNames("reject at rcpt");
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Rcpt, Action = FilterAction.Accept },
            DecisionScope.Message, false).SetArgDisplayNames("accept at rcpt");
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Helo, Action = FilterAction.Reject, Reply = SmtpReply.DefaultReject },
            DecisionScope.Session, false).SetArgDisplayNames("reject at helo");
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Mail, Action = FilterAction.Continue },
            DecisionScope.None, false).SetArgDisplayNames("continue at mail");
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Body, Action = FilterAction.TempFail, Reply = new SmtpReply(421, "4.7.0", "closing") },
            DecisionScope.Session, true).SetArgDisplayNames("421 at body");
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Rcpt, Action = FilterAction.TempFail, Reply = SmtpReply.DefaultTempFail, Failure = Failure },
            DecisionScope.Session, false).SetArgDisplayNames("failure at rcpt");
        yield return new TestCaseData(new StageDecision { Stage = FilterStage.Mail, Action = FilterAction.Accept, Failure = Failure },
            DecisionScope.Session, false).SetArgDisplayNames("failure with accept as the failure action");
    }

    [TestCaseSource(nameof(Decisions))]
    public void A_decision_knows_its_scope_and_whether_it_closes_the_session(StageDecision decision, DecisionScope scope, bool closes)
    {
        Assert.That((decision.Scope, decision.ClosesSession), Is.EqualTo((scope, closes)));
    }

    [Test]
    public void A_decision_without_a_failure_is_scoped_by_the_one_rule()
    {
        foreach (var stage in Enum.GetValues<FilterStage>())
        {
            foreach (var action in Enum.GetValues<FilterAction>())
            {
                var decision = new StageDecision { Stage = stage, Action = action };

                Assert.That(decision.Scope, Is.EqualTo(DecisionRules.ScopeOf(stage, action, null)), $"{stage} {action}");
            }
        }
    }

    [Test]
    public void Continue_at_a_stage_is_one_shared_instance_that_names_the_stage()
    {
        foreach (var stage in Enum.GetValues<FilterStage>())
        {
            var decision = StageDecision.ContinueAt(stage);

            Assert.That((decision.Stage, decision.Action, decision.Reply, decision.Failure), Is.EqualTo((stage, FilterAction.Continue, (SmtpReply?)null, (FilterFailure?)null)));
            Assert.That(StageDecision.ContinueAt(stage), Is.SameAs(decision));
        }
    }

    [Test]
    public void A_failure_reads_as_one_line_naming_the_endpoint_and_the_stage_when_there_is_one()
    {
        Assert.That(Failure.ToString(), Is.EqualTo("milter 127.0.0.1:8890: rcpt: can't read packet header"));
        Assert.That((Failure with { Stage = null }).ToString(), Is.EqualTo("milter 127.0.0.1:8890: can't read packet header"));
    }
}
