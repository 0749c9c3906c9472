namespace SpamFilterMilter.Contract.Tests;

/// <summary>The one rule for what a decision applies to (<see cref="DecisionRules.ScopeOf"/>), every stage by every action.</summary>
public class DecisionScopeTests
{
    private static readonly FilterAction[] Actions = [FilterAction.Continue, FilterAction.Accept, FilterAction.Reject, FilterAction.TempFail, FilterAction.Discard];

    /// <summary>
    /// Per stage, the scope of continue, accept, reject, tempfail, discard (in that order) without a 421 reply:
    /// N none, C this command, M the message, S the rest of the session.
    /// </summary>
    private static readonly Dictionary<FilterStage, string> Table = new()
    {
        [FilterStage.Connect] = "NSSSS",      // a decision at connect or HELO holds for the connection
        [FilterStage.Helo] = "NSSSS",
        [FilterStage.Mail] = "NMMMM",         // from MAIL on, any decision but continue settles the message
        [FilterStage.Rcpt] = "NMCCM",         // reject and tempfail refuse this recipient only
        [FilterStage.Data] = "NMMMM",
        [FilterStage.Header] = "NMMMM",
        [FilterStage.EndOfHeaders] = "NMMMM",
        [FilterStage.Body] = "NMMMM",
        [FilterStage.EndOfMessage] = "NMMMM",
        [FilterStage.Unknown] = "NCCCC",      // the reply to an unknown command concerns that command
        [FilterStage.Close] = "NMMMM",
    };

    private static IEnumerable<TestCaseData> Cells() =>
        from stage in Enum.GetValues<FilterStage>()
        from index in Enumerable.Range(0, Actions.Length)
        select new TestCaseData(stage, Actions[index], Table[stage][index] switch
        {
            'N' => DecisionScope.None,
            'C' => DecisionScope.Command,
            'M' => DecisionScope.Message,
            _ => DecisionScope.Session,
        }).SetArgDisplayNames(stage.ToName(), Actions[index].ToString());

    [Test]
    public void The_table_covers_every_stage()
    {
        Assert.That(Table.Keys, Is.EquivalentTo(Enum.GetValues<FilterStage>()));
    }

    [TestCaseSource(nameof(Cells))]
    public void Each_action_at_each_stage_applies_to_what_Postfix_applies_it_to(FilterStage stage, FilterAction action, DecisionScope scope)
    {
        var reply = action switch
        {
            FilterAction.Reject => SmtpReply.DefaultReject,
            FilterAction.TempFail => SmtpReply.DefaultTempFail,
            _ => null,
        };

        Assert.That(DecisionRules.ScopeOf(stage, action, reply), Is.EqualTo(scope));
        Assert.That(DecisionRules.ScopeOf(stage, action, null), Is.EqualTo(scope), "a default reply and none are the same");
    }

    private static IEnumerable<TestCaseData> EveryStageAndAction() =>
        from stage in Enum.GetValues<FilterStage>()
        from action in Actions
        select new TestCaseData(stage, action).SetArgDisplayNames(stage.ToName(), action.ToString());

    [TestCaseSource(nameof(EveryStageAndAction))]
    public void A_421_reply_ends_the_session_wherever_it_comes(FilterStage stage, FilterAction action)
    {
        Assert.That(DecisionRules.ScopeOf(stage, action, new SmtpReply(421, "4.7.0", "closing")), Is.EqualTo(DecisionScope.Session));
        Assert.That(DecisionRules.ScopeOf(stage, action, new SmtpReply(451, "4.7.0", "later")), Is.EqualTo(DecisionRules.ScopeOf(stage, action, null)),
            "only 421 does: another 4xx reply is scoped as the action is");
    }
}
