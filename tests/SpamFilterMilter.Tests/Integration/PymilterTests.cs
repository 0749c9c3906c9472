namespace SpamFilterMilter.Tests.Integration;

/// <summary>A second, independent milter implementation: python3-milter (tests/milters/sfm_testmilter.py).</summary>
[Category("Integration")]
public class PymilterTests : TempFolderTest
{
    private async Task<(FilterVerdict Verdict, IReadOnlyList<TranscriptLine> Transcript)> FilterAsync(string recipient, params string[] actions)
    {
        await using var milter = await MilterProcess.StartPymilterAsync(actions.SelectMany(a => new[] { "-a", a }).ToArray());
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));
        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.7"), 2525, "py.example.net"),
            HeloName = "py.example.net",
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient(recipient)],
            Message = new MemoryStream(Encoding.ASCII.GetBytes("Subject: from python\r\nX-A: b\r\n\r\nbody text\r\n")),
        });
        return (verdict, await milter.TranscriptAfterAsync("close"));
    }

    [Test]
    public async Task A_pymilter_milter_sees_the_message_and_its_edits_come_back()
    {
        var (verdict, transcript) = await FilterAsync("bob@example.com", "eom=addheader:X-Python:yes", "eom=chgheader:1:Subject:changed", "eom=quarantine:py says hold");

        Assert.That(verdict.Edits, Is.EqualTo(new MessageEdit[] { new AddHeader("X-Python", " yes"), new ChangeHeader(1, "Subject", " changed") }));
        Assert.That(verdict.QuarantineReason, Is.EqualTo("py says hold"));
        Assert.That(transcript.Single(l => l.Event == "connect").Fields, Is.EqualTo(new[] { "py.example.net", "4", "2525", "192.0.2.7" }));
        Assert.That(transcript.Where(l => l.Event == "header").Select(l => l.Fields[1]), Is.EqualTo(new[] { "from python", "b" }));
        Assert.That(transcript.Single(l => l.Event == "body").Fields[1], Is.EqualTo("body text\r\n"));
    }

    [TestCase("reject", FilterAction.Reject, "550 5.7.1 Command rejected")]
    [TestCase("tempfail", FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later")]
    [TestCase("reply:554:5.7.1:no thanks", FilterAction.Reject, "554 5.7.1 no thanks")]
    public async Task A_pymilter_verdict_at_the_end_of_the_message_reaches_the_host(string action, FilterAction expected, string reply)
    {
        var (verdict, _) = await FilterAsync("bob@example.com", "eom=" + action);

        Assert.That((verdict.Action, verdict.Reply?.ToString()), Is.EqualTo((expected, reply)));
    }

    [Test]
    public async Task A_pymilter_recipient_reject_concerns_that_recipient()
    {
        var (verdict, _) = await FilterAsync("nobody@example.com", "rcpt/nobody@=reject");

        Assert.That(verdict.Recipients.Single(), Is.EqualTo(new RecipientDecision("nobody@example.com", FilterAction.Reject, new SmtpReply(550, "5.7.1", "Command rejected"))));
        Assert.That((verdict.Action, verdict.DecidedAt), Is.EqualTo((FilterAction.Reject, (FilterStage?)FilterStage.Rcpt)), "its only recipient was refused");
    }
}
