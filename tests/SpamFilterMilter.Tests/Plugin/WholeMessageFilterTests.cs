namespace SpamFilterMilter.Tests.Plugin;

/// <summary>Filtering a whole message the way Messaging Server calls a plug-in.</summary>
public class WholeMessageFilterTests : TempFolderTest
{
    private ScriptedMilterListener _listener = null!;

    [SetUp]
    public void Listen() => _listener = new ScriptedMilterListener();

    [TearDown]
    public void StopListening() => _listener.Dispose();

    private const string Message = "From: Alice <alice@example.org>\nSubject: Hello\n folded\nX-Repeat: 1\nX-Repeat: 2\n\nBody line 1\nBody line 2\n";

    private static MessageSubmission Submission(string message = Message, params string[] recipients) => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 1234, "client.example.net"),
        HeloName = "client.example.net",
        MailFrom = "alice@example.org",
        MailParameters = ["SIZE=100"],
        Recipients = (recipients.Length > 0 ? recipients : ["bob@example.com"]).Select(r => new EnvelopeRecipient(r)).ToArray(),
        Message = new MemoryStream(Encoding.UTF8.GetBytes(message)),
        OptIn = ["spam", "virus"],
    };

    private async Task<(FilterVerdict Verdict, List<ReceivedPacket> Packets)> FilterAsync(MessageSubmission submission, Func<ReceivedPacket, byte[][]?> answer)
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(_listener.Port));
        var milter = MilterScripts.RunAsync(_listener, answer);
        var verdict = await plugin.FilterMessageAsync(submission);
        return (verdict, await milter);
    }

    [Test]
    public async Task The_milter_sees_the_SMTP_session_the_headers_one_by_one_and_the_body_in_CRLF()
    {
        var (verdict, packets) = await FilterAsync(Submission(), _ => null);

        Assert.That((verdict.Kind, verdict.Text, verdict.DecidedAt), Is.EqualTo((VerdictKind.Default, (string?)null, (FilterStage?)FilterStage.EndOfMessage)));
        var commands = packets.Where(p => p.Code != 'D').Select(p => p.Code).ToArray();
        Assert.That(new string(commands), Is.EqualTo("CHMRTLLLLNBEAAQ"), "as Postfix: the transaction reset (ABORT), the HELO reset (ABORT), QUIT");
        var headers = packets.Where(p => p.Code == 'L').Select(p => (p.Strings[0], p.Strings[1])).ToArray();
        Assert.That(headers, Is.EqualTo(new[] { ("From", "Alice <alice@example.org>"), ("Subject", "Hello\n folded"), ("X-Repeat", "1"), ("X-Repeat", "2") }));
        Assert.That(Encoding.ASCII.GetString(packets.Single(p => p.Code == 'B').Payload), Is.EqualTo("Body line 1\r\nBody line 2\r\n"));
        Assert.That(packets.Single(p => p.Code == 'M').Strings, Is.EqualTo(new[] { "<alice@example.org>", "SIZE=100" }));
    }

    [Test]
    public async Task Opt_in_values_reach_the_milter_as_a_macro_with_MAIL()
    {
        var (_, packets) = await FilterAsync(Submission(), _ => null);

        var mailMacros = packets.Single(p => p.Code == 'D' && p.Payload[0] == 'M').Strings;
        Assert.That(mailMacros, Does.Contain("{spamfilter_optin}").And.Contain("spam,virus"));
    }

    [Test]
    public async Task A_reject_at_MAIL_ends_the_message_there()
    {
        var (verdict, packets) = await FilterAsync(Submission(), p => p.Code == 'M' ? [Raw.Packet('y', Raw.CString("550 5.7.1 blocked sender"))] : null);

        Assert.That((verdict.Kind, verdict.Action, verdict.DecidedAt), Is.EqualTo((VerdictKind.String, FilterAction.Reject, (FilterStage?)FilterStage.Mail)));
        Assert.That(verdict.Text, Is.EqualTo("require \"ereject\";\nereject \"550 5.7.1 blocked sender\";"));
        Assert.That(packets.Select(p => p.Code), Has.None.EqualTo('R').And.None.EqualTo('B'), "nothing after MAIL but QUIT");
        Assert.That(packets[^1].Code, Is.EqualTo('Q'));
    }

    [Test]
    public async Task A_recipient_refused_at_RCPT_is_reported_and_the_message_goes_on_for_the_others()
    {
        var (verdict, packets) = await FilterAsync(Submission(Message, "good@example.com", "nobody@example.com"),
            p => p.Code == 'R' && p.Strings[0] == "<nobody@example.com>" ? [Raw.Packet('y', Raw.CString("550 5.1.1 No such user"))] : null);

        Assert.That(packets.Select(p => p.Code), Does.Contain('E'));
        Assert.That(verdict.Recipients, Is.EqualTo(new[]
        {
            new RecipientDecision("good@example.com", FilterAction.Continue, null),
            new RecipientDecision("nobody@example.com", FilterAction.Reject, new SmtpReply(550, "5.1.1", "No such user")),
        }));
        Assert.That(verdict.Text, Is.EqualTo("require \"vnd.spamfiltermilter\";\nrejectrecipient \"nobody@example.com\" \"550 5.1.1 No such user\";"));
    }

    [Test]
    public async Task When_every_recipient_is_refused_the_message_is_refused_and_a_temporary_refusal_wins()
    {
        var (verdict, packets) = await FilterAsync(Submission(Message, "a@example.com", "b@example.com"),
            p => p.Code == 'R' ? [p.Strings[0] == "<a@example.com>" ? Raw.Packet('r') : Raw.Packet('t')] : null);

        Assert.That((verdict.Action, verdict.DecidedAt, verdict.Reply!.Code), Is.EqualTo((FilterAction.TempFail, (FilterStage?)FilterStage.Rcpt, 451)));
        Assert.That(new string(packets.Where(p => p.Code != 'D').Select(p => p.Code).ToArray()), Is.EqualTo("CHMRRAAQ"), "the transaction's ABORT, the HELO's, QUIT");
    }

    [Test]
    public async Task An_accept_at_CONNECT_is_the_default_verdict_without_reading_the_message()
    {
        var submission = Submission();

        var (verdict, packets) = await FilterAsync(submission, p => p.Code == 'C' ? [Raw.Packet('a')] : null);

        Assert.That((verdict.Kind, verdict.DecidedAt), Is.EqualTo((VerdictKind.Default, (FilterStage?)FilterStage.Connect)));
        Assert.That(submission.Message.Position, Is.Zero);
        Assert.That(packets.Where(p => p.Code != 'D').Select(p => p.Code), Is.EqualTo(new[] { 'C', 'Q' }));
    }

    [Test]
    public async Task Edits_at_the_end_of_the_message_come_back_as_the_action_string_and_structured()
    {
        var (verdict, _) = await FilterAsync(Submission(), p => p.Code == 'E'
            ? [Raw.Packet('h', Raw.CString("X-Spam-Flag"), Raw.CString("YES")), Raw.Packet('q', Raw.CString("spam")), Raw.Packet('c')]
            : null);

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.String));
        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Spam-Flag", " YES") }));
        Assert.That(verdict.QuarantineReason, Is.EqualTo("spam"));
        Assert.That(verdict.Text, Is.EqualTo("require [\"editheader\", \"vnd.spamfiltermilter\"];\naddheader :last \"X-Spam-Flag\" \"YES\";\nquarantine \"spam\";"));
    }

    [Test]
    public async Task A_milter_that_cannot_be_reached_gives_a_failure_verdict_not_an_exception()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(TestPlugins.ClosedPort()));

        var verdict = await plugin.FilterMessageAsync(Submission());

        Assert.That((verdict.Kind, verdict.Action, verdict.Failure!.Stage), Is.EqualTo((VerdictKind.Failure, FilterAction.TempFail, (FilterStage?)FilterStage.Connect)));
    }
}
