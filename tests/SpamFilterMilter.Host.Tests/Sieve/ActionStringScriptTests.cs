using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Sieve;

/// <summary>
/// The action strings the milter plug-in emits (src/SpamFilterMilter/Policy/ActionString.cs, as the README's
/// table and the plug-in's own tests show them, character for character) run to exactly the outcome the
/// plug-in's structured verdict describes.
/// </summary>
public class ActionStringScriptTests
{
    private const string Message = "From: alice@example.org\r\nSubject: hello\r\nX-Old: 1\r\nX-Old: 2\r\n\r\nOriginal body\r\n";

    private static readonly Envelope Envelope = new("alice@example.org", null, [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("nobody@example.com")]);

    private static SieveOutcome Run(params string[] lines) =>
        SieveScript.Parse(string.Join('\n', lines)).Run(Encoding.ASCII.GetBytes(Message), Envelope);

    [Test]
    public void Header_edits_and_quarantine_apply_byte_exactly_as_MessageEditor_applies_the_verdicts_edits()
    {
        // The script LibmilterEditTests gets from a real libmilter milter, and the edits of the same verdict.
        var outcome = Run(
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            "addheader :last \"X-Spam-Flag\" \"YES\";",
            "addheader \"X-Top\" \"first\";",
            "replaceheader :index 1 \"Subject\" \"[SPAM] hello\";",
            "deleteheader :index 2 \"X-Old\";",
            "addheader :last \"X-Folded\" \"a\r\n\tb\";",
            "quarantine \"held by test\";");
        MessageEdit[] verdictEdits =
        [
            new AddHeader("X-Spam-Flag", " YES"),
            new InsertHeader(0, "X-Top", " first"),
            new ChangeHeader(1, "Subject", " [SPAM] hello"),
            new ChangeHeader(2, "X-Old", null),
            new AddHeader("X-Folded", " a\r\n\tb"),
        ];

        Assert.That(outcome.Edits, Is.EqualTo(verdictEdits));
        Assert.That(outcome.QuarantineReason, Is.EqualTo("held by test"));
        Assert.That(Encoding.ASCII.GetString(outcome.Message), Is.EqualTo(
            "X-Top: first\r\nFrom: alice@example.org\r\nSubject: [SPAM] hello\r\nX-Old: 1\r\nX-Spam-Flag: YES\r\nX-Folded: a\r\n\tb\r\n\r\nOriginal body\r\n"));
        Assert.That(outcome.Message, Is.EqualTo(MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), verdictEdits)));
    }

    [Test]
    public void Envelope_and_body_edits_apply_as_the_verdicts_edits_do()
    {
        var body = Encoding.ASCII.GetBytes("Replaced\r\nbody\r\n");
        var outcome = Run(
            "require \"vnd.spamfiltermilter\";",
            "addrecipient \"<new@example.com>\";",
            "addrecipient \"<par@example.com>\" \"NOTIFY=NEVER\";",
            "deleterecipient \"<bob@example.com>\";",
            "changesender \"<bounces@example.org>\" \"RET=HDRS\";",
            $"replacebody \"{Convert.ToBase64String(body)}\";");
        var expected = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), Envelope,
        [
            new AddRecipient("<new@example.com>"),
            new AddRecipient("<par@example.com>", ["NOTIFY=NEVER"]),
            new DeleteRecipient("<bob@example.com>"),
            new ChangeSender("<bounces@example.org>", ["RET=HDRS"]),
            new ReplaceBody(body),
        ]);

        Assert.That(outcome.Message, Is.EqualTo(expected.Message));
        Assert.That(outcome.Envelope.MailFrom, Is.EqualTo("bounces@example.org"));
        Assert.That(outcome.Envelope.MailParameters, Is.EqualTo(new[] { "RET=HDRS" }));
        Assert.That(outcome.Envelope.Recipients.Select(r => (r.Address, r.Parameters is { Count: > 0 } p ? p[0] : null)), Is.EqualTo(new[]
        {
            ("nobody@example.com", (string?)null),
            ("new@example.com", null),
            ("par@example.com", "NOTIFY=NEVER"),
        }));
    }

    [Test]
    public void The_sample_milters_lottery_verdict_runs()
    {
        var outcome = Run(
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            "addheader :last \"X-Spam-Flag\" \"YES\";",
            "addheader :last \"X-Spam-Score\" \"9.5\";",
            "replaceheader :index 1 \"Subject\" \"[SPAM] You are our lottery WINNER\";",
            "quarantine \"sample milter: looks like a lottery scam\";");

        Assert.That(outcome.QuarantineReason, Is.EqualTo("sample milter: looks like a lottery scam"));
        Assert.That(Encoding.ASCII.GetString(outcome.Message), Does.Contain("Subject: [SPAM] You are our lottery WINNER\r\n").And.Contain("X-Spam-Flag: YES\r\nX-Spam-Score: 9.5\r\n\r\n"));
    }

    [Test]
    public void A_reject_verdict_refuses_with_the_milters_reply()
    {
        var outcome = Run("require \"ereject\";", "ereject \"554 5.7.1 Virus found: EICAR-Test-File (sample milter)\";");

        Assert.That((outcome.Disposition, outcome.Reply), Is.EqualTo((SieveDisposition.Reject, new SmtpReply(554, "5.7.1", "Virus found: EICAR-Test-File (sample milter)"))));
    }

    [Test]
    public void A_multi_line_reply_keeps_every_line()
    {
        var outcome = Run("require \"ereject\";", "ereject \"554-5.7.1 line one\r\n554 5.7.1 line two\";");

        Assert.That(outcome.Reply, Is.EqualTo(new SmtpReply(554, "5.7.1", ["line one", "line two"])));
    }

    [Test]
    public void A_tempfail_verdict_refuses_for_now()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\";", "tempfail \"451 4.7.1 The sample milter asks you to try again later\";");

        Assert.That((outcome.Disposition, outcome.Reply!.ToString()), Is.EqualTo((SieveDisposition.TempFail, "451 4.7.1 The sample milter asks you to try again later")));
    }

    [Test]
    public void A_discard_verdict_discards()
    {
        Assert.That(Run("discard;").Disposition, Is.EqualTo(SieveDisposition.Discard));
    }

    [Test]
    public void A_refused_recipient_is_refused_and_the_message_goes_to_the_others()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\";", "rejectrecipient \"nobody@example.com\" \"550 5.1.1 No such user here\";");

        Assert.That(outcome.RefusedRecipients.Single(), Is.EqualTo(new RefusedRecipient("nobody@example.com", new SmtpReply(550, "5.1.1", "No such user here"))));
        Assert.That(outcome.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
    }

    [TestCase("require \"vnd.spamfiltermilter\";\ntempfail \"451 4.7.1 Service unavailable - try again later\";", SieveDisposition.TempFail)]
    [TestCase("require \"ereject\";\nereject \"550 5.7.1 Service unavailable\";", SieveDisposition.Reject)]
    [TestCase("keep;", SieveDisposition.Deliver)]
    public void A_failure_verdicts_action_runs_after_its_comment(string action, SieveDisposition disposition)
    {
        var outcome = Run("# milter failure: milter 127.0.0.1:8890: eom: SMFIC_BODYEOB reply: can't read packet header: the milter closed the connection", action);

        Assert.That(outcome.Disposition, Is.EqualTo(disposition));
    }
}
