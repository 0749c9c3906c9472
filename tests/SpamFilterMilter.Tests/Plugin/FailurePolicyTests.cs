namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// FAILURE_ACTION as a Postfix administrator knows milter_default_action: every policy, every stage a milter can fail
/// at, both I/O modes, against the fault-injection milter (an answer with an unknown code: a failure that shows at
/// once). The message gets the policy's outcome; stage by stage, the stage that failed and every later one answer
/// with it, and <c>shutdown</c> answers 421 and says the SMTP session closes.
/// </summary>
[Category("Faults")]
public class FailurePolicyTests : TempFolderTest
{
    private const string Fault = "unknown-reply-code";

    private static readonly string[] Policies = ["tempfail", "accept", "reject", "shutdown"];

    /// <summary>What each policy answers: the action, the reply, and whether the SMTP session closes.</summary>
    private static (FilterAction Action, string? Reply, bool ClosesSession) Outcome(string policy) => policy switch
    {
        "accept" => (FilterAction.Accept, null, false),
        "reject" => (FilterAction.Reject, "550 5.7.1 Service unavailable", false),
        "shutdown" => (FilterAction.TempFail, "421 4.7.1 Service unavailable - try again later", true),
        _ => (FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later", false),
    };

    private static IEnumerable<TestCaseData> Cells(bool withBody)
    {
        foreach (var io in new[] { "async", "blocking" })
        {
            foreach (var policy in Policies)
            {
                yield return new TestCaseData(policy, "refused", io).SetName($"{{m}}({policy},refused,{io})");
                foreach (var (stage, _) in FaultMilter.Stages.Where(s => withBody || s.Stage != "body"))
                {
                    yield return new TestCaseData(policy, stage, io).SetName($"{{m}}({policy},{stage},{io})");
                }
            }
        }
    }

    private static IEnumerable<TestCaseData> MessageCells() => Cells(withBody: true);

    // Stage by stage a short body waits in a partly filled packet until the end of the message: its failure shows there.
    private static IEnumerable<TestCaseData> SessionCells() => Cells(withBody: false);

    private static string Options(int port, string policy, string io) =>
        $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=500\nIO_MODE={io}\nFAILURE_ACTION={policy}\n";

    private static FilterStage StageOf(string stage) => stage switch
    {
        "refused" or "optneg" => FilterStage.Connect,
        "eom" => FilterStage.EndOfMessage,
        _ => FilterStageNames.TryParse(stage, out var parsed) ? parsed : throw new ArgumentException(stage),
    };

    [TestCaseSource(nameof(MessageCells))]
    public async Task A_message_whose_milter_fails_gets_the_policy_outcome(string policy, string stage, string io)
    {
        await using var milter = stage == "refused" ? null : new FaultMilter(stage, Fault);
        using var logs = new CapturedLogs();
        FilterVerdict verdict;
        await using (var plugin = TestPlugins.Create(Folder, Options(milter?.Port ?? TestPlugins.ClosedPort(), policy, io), logs))
        {
            verdict = await plugin.FilterMessageAsync(FaultMilter.Message());
        }

        var (action, reply, _) = Outcome(policy);
        Assert.That((verdict.Kind, verdict.Failure?.Stage), Is.EqualTo((VerdictKind.Failure, (FilterStage?)StageOf(stage))), verdict.Failure?.ToString());
        Assert.That((verdict.Action, verdict.Reply?.ToString()), Is.EqualTo((action, reply)));
        var script = string.Join(" ", verdict.Text!.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)); // after the comment naming the failure
        Assert.That(script, Is.EqualTo(action switch
        {
            FilterAction.Accept => "keep;",
            FilterAction.Reject => $"require \"ereject\"; ereject \"{reply}\";",
            _ => $"require \"vnd.spamfiltermilter\"; tempfail \"{reply}\";",
        }), "the action string the host runs");
        Assert.That(logs.Entries.Single(e => e.EventId.Id == 4001).Message, Does.Contain("; the verdict is the failure action " + policy + ", for the host to apply"));
    }

    [TestCaseSource(nameof(SessionCells))]
    public async Task In_an_SMTP_session_the_failed_stage_and_every_later_one_answer_with_the_policy(string policy, string stage, string io)
    {
        await using var milter = stage == "refused" ? null : new FaultMilter(stage, Fault);
        await using var plugin = TestPlugins.Create(Folder, Options(milter?.Port ?? TestPlugins.ClosedPort(), policy, io));
        await using var session = plugin.OpenSession();

        var decisions = new List<StageDecision>
        {
            await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25, "client.example.net")),
            await session.HeloAsync("client.example.net"),
            await session.MailAsync("alice@example.org"),
            await session.RcptAsync("bob@example.com"),
            await session.DataAsync(),
            await session.HeaderAsync("Subject", " fault"),
            await session.EndOfHeadersAsync(),
            await session.BodyAsync("body\r\n"u8.ToArray()),
        };
        var verdict = await session.EndOfMessageAsync();
        await session.CloseAsync();
        // The end of the message answers with a verdict: as a decision, what an SMTP server answers the final dot.
        decisions.Add(new StageDecision { Stage = FilterStage.EndOfMessage, Action = verdict.Action, Reply = verdict.Reply, Failure = verdict.Failure });

        var (action, reply, closes) = Outcome(policy);
        var failed = decisions.FindIndex(d => d.Failure is not null);
        Assert.That(failed, Is.Not.Negative, "a decision carries the failure");
        Assert.That(decisions[failed].Stage, Is.EqualTo(StageOf(stage)), decisions[failed].Failure!.ToString());
        Assert.Multiple(() =>
        {
            foreach (var decision in decisions.Skip(failed))
            {
                Assert.That((decision.Action, decision.Reply?.ToString(), decision.ClosesSession, decision.Scope),
                    Is.EqualTo((action, reply, closes, DecisionScope.Session)), $"at {decision.Stage.ToName()}");
            }
        });
        Assert.That((verdict.Kind, verdict.Action, verdict.Reply?.ToString()), Is.EqualTo((VerdictKind.Failure, action, reply)), "the message's verdict");
    }
}
