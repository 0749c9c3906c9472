namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// Every verdict at every stage from a real libmilter milter (tests/milters/sfm-testmilter.c), through
/// the plug-in loaded by path, stage by stage as an SMTP server drives it.
/// </summary>
[Category("Integration")]
public class LibmilterStageTests
{
    private static readonly string[] Stages = ["connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom"];

    private static readonly string[] Actions = ["continue", "accept", "reject", "tempfail", "discard", "reply:550:5.7.1:Custom text", "reply:451:4.3.0:Busy now"];

    private static IEnumerable<TestCaseData> Cases() =>
        from io in new[] { "async", "blocking" }
        from stage in Stages
        from action in Actions
        select new TestCaseData(stage, action, io).SetName($"{{m}}({stage},{action},{io})");

    /// <summary>What the plug-in must answer for <paramref name="action"/> at <paramref name="stage"/>.</summary>
    private static (FilterAction Action, string? Reply) Expected(string stage, string action) => action switch
    {
        "continue" => (stage == "eom" ? FilterAction.Accept : FilterAction.Continue, null),
        "accept" => (FilterAction.Accept, null),
        "reject" => (FilterAction.Reject, "550 5.7.1 Command rejected"),
        "tempfail" => (FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later"),
        "discard" when stage is "connect" or "helo" => (FilterAction.Continue, null), // undefined there; ignored like Postfix
        "discard" => (FilterAction.Discard, null),
        "reply:550:5.7.1:Custom text" => (FilterAction.Reject, "550 5.7.1 Custom text"),
        _ => (FilterAction.TempFail, "451 4.3.0 Busy now"),
    };

    [TestCaseSource(nameof(Cases))]
    public async Task A_libmilter_verdict_reaches_the_host_at_its_stage(string stage, string action, string ioMode)
    {
        // At RCPT the action hits bob alone: a transaction whose every recipient is refused gets no DATA (nor content).
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", stage == "rcpt" ? $"rcpt/bob@={action}" : $"{stage}={action}");
        using var folder = new TempFolder();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(folder, $"IO_MODE={ioMode}\n"));
        await using var session = plugin.OpenSession();

        var decisions = new Dictionary<string, (FilterAction, string?)>();
        void Record(string name, StageDecision d) => decisions[name] = (d.Action, d.Reply?.ToString());

        Record("connect", await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net")));
        Record("helo", await session.HeloAsync("client.example.net"));
        Record("mail", await session.MailAsync("alice@example.org"));
        Record("rcpt", await session.RcptAsync("bob@example.com"));
        await session.RcptAsync("carol@example.com");
        Record("data", await session.DataAsync());
        Record("header", await session.HeaderAsync("Subject", " test"));
        Record("eoh", await session.EndOfHeadersAsync());
        Record("body", await session.BodyAsync(Encoding.ASCII.GetBytes("hello\r\n")));
        var verdict = await session.EndOfMessageAsync();
        decisions["eom"] = (verdict.Action, verdict.Reply?.ToString());
        await session.CloseAsync();

        var expected = Expected(stage, action);
        if (stage == "body")
        {
            // A short body waits in a partly filled packet: the milter sees it, and answers, at the end of the message.
            Assert.That(decisions["body"], Is.EqualTo((FilterAction.Continue, (string?)null)));
            Assert.That(decisions["eom"], Is.EqualTo(expected.Action == FilterAction.Continue ? (FilterAction.Accept, null) : expected));
            Assert.That(verdict.DecidedAt?.ToName(), Is.EqualTo(expected.Action == FilterAction.Continue ? "eom" : "body"));
        }
        else
        {
            Assert.That(decisions[stage], Is.EqualTo(expected), $"the decision at {stage}");
        }

        var recipientOnly = stage == "rcpt" && expected.Action is FilterAction.Reject or FilterAction.TempFail;
        if (expected.Action is not FilterAction.Continue && stage != "body")
        {
            // A decision holds for what follows: the connection (connect, helo) or the message;
            // a refused recipient is refused alone and the message goes on.
            Assert.That(decisions["eom"], Is.EqualTo(recipientOnly ? (FilterAction.Accept, null) : expected), "the verdict at the end of the message");
            Assert.That(verdict.DecidedAt?.ToName(), Is.EqualTo(recipientOnly ? "eom" : stage));
        }

        var transcript = await milter.TranscriptAfterAsync("close");
        Assert.That(transcript.Where(l => l.Event == "action").Select(l => l.Fields[0]), Does.Contain(stage), "the milter acted at that stage");
        Assert.That(verdict.Failure, Is.Null);
    }
}
