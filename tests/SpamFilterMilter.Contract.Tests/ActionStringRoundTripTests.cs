using System.Text;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;
using SpamFilterMilter.Options;
using SpamFilterMilter.Verdicts;

namespace SpamFilterMilter.Contract.Tests;

/// <summary>
/// The plug-in's action string, run by the host's Sieve interpreter, does byte for byte what the plug-in's
/// structured verdict says: for every kind of edit, header values with every kind of leading blank (the ones
/// that need :raw included), and every refusal. The script comes from the plug-in's verdict builder, the expected
/// result from MessageEditor.Apply on the verdict's own edits.
/// </summary>
public class ActionStringRoundTripTests
{
    private const string CrlfMessage = "From: alice@example.org\r\nSubject: hello\r\nX-Old: 1\r\nX-Old: 2\r\n\r\nBody\r\n";

    private static readonly Envelope Envelope = new("alice@example.org", ["BODY=8BITMIME"],
        [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("carol@example.com", ["NOTIFY=NEVER"])]);

    /// <summary>
    /// Header values as a milter may send them: one space (the standard form), none, a tab, two spaces, empty, folded, a line
    /// break that does not fold, Latin-1, broken UTF-8 without the space.
    /// </summary>
    private static readonly RawText[] Values = [" v", "v", "\tv", "  v", "", " a\r\n\tb", " a\nb", new RawText([0x20, 0x63, 0x61, 0x66, 0xE9]), new RawText([0xC3, 0x28, 0xFF])];

    private static IEnumerable<TestCaseData> Edits()
    {
        foreach (var value in Values)
        {
            var shown = LogText.Quote(value);
            yield return new TestCaseData(new AddHeader("X-New", value)).SetArgDisplayNames($"AddHeader {shown}");
            yield return new TestCaseData(new InsertHeader(0, "X-New", value)).SetArgDisplayNames($"InsertHeader 0 {shown}");
            yield return new TestCaseData(new InsertHeader(2, "X-New", value)).SetArgDisplayNames($"InsertHeader 2 {shown}");
            yield return new TestCaseData(new ChangeHeader(2, "X-Old", value)).SetArgDisplayNames($"ChangeHeader 2 {shown}");
            yield return new TestCaseData(new ChangeHeader(5, "X-Old", value)).SetArgDisplayNames($"ChangeHeader beyond the count {shown}");
        }

        yield return new TestCaseData(new ChangeHeader(1, "x-old", null)).SetArgDisplayNames("ChangeHeader delete");
        yield return new TestCaseData(new AddRecipient("<dave@example.com>")).SetArgDisplayNames("AddRecipient");
        yield return new TestCaseData(new AddRecipient("<eve@example.com>", ["NOTIFY=SUCCESS", "ORCPT=rfc822;eve@example.com"])).SetArgDisplayNames("AddRecipient with parameters");
        yield return new TestCaseData(new DeleteRecipient("<Carol@example.com>")).SetArgDisplayNames("DeleteRecipient");
        yield return new TestCaseData(new ChangeSender("<bounces@example.org>")).SetArgDisplayNames("ChangeSender");
        yield return new TestCaseData(new ChangeSender("<>", ["RET=HDRS"])).SetArgDisplayNames("ChangeSender to the null sender with parameters");
        yield return new TestCaseData(new ReplaceBody(new byte[] { (byte)'N', 0x00, 0xFF, (byte)'"', (byte)'\\', (byte)'\r', (byte)'\n' })).SetArgDisplayNames("ReplaceBody");
    }

    private static SieveOutcome RunActionString(FilterVerdict verdict, string message) =>
        SieveScript.Parse(verdict.Text!).Run(Encoding.UTF8.GetBytes(message), Envelope);

    private static FilterVerdict Verdict(FilterAction action = FilterAction.Accept, SmtpReply? reply = null, IReadOnlyList<MessageEdit>? edits = null,
        string? quarantine = null, IReadOnlyList<RecipientDecision>? recipients = null)
    {
        // Made as the plug-in makes it at the end of a message, the recipients' decisions recorded at RCPT first.
        var builder = new TransactionVerdictBuilder(FailureAction.TempFail, recordRecipients: true);
        builder.StartMessage();
        foreach (var decided in recipients ?? [])
        {
            builder.Recipient(decided.Address, new StageDecision { Stage = FilterStage.Rcpt, Action = decided.Action, Reply = decided.Reply });
        }

        var verdict = builder.Decided(action, reply, edits ?? [], quarantine, FilterStage.EndOfMessage);
        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.String));
        return verdict;
    }

    private static void AssertSame(SieveOutcome outcome, EditedMessage expected)
    {
        Assert.That(outcome.Message, Is.EqualTo(expected.Message), "the message, byte for byte");
        Assert.That((outcome.Envelope.MailFrom, outcome.Envelope.MailParameters), Is.EqualTo((expected.Envelope.MailFrom, expected.Envelope.MailParameters)));
        Assert.That(outcome.Envelope.Recipients.Select(r => (r.Address, string.Join(' ', r.Parameters ?? []))),
            Is.EqualTo(expected.Envelope.Recipients.Select(r => (r.Address, string.Join(' ', r.Parameters ?? [])))));
    }

    [TestCaseSource(nameof(Edits))]
    public void Each_edit_runs_exactly_as_MessageEditor_applies_it_in_a_CRLF_message(MessageEdit edit)
    {
        var verdict = Verdict(edits: [edit]);

        var outcome = RunActionString(verdict, CrlfMessage);

        Assert.That(outcome.Disposition, Is.EqualTo(SieveDisposition.Deliver));
        AssertSame(outcome, MessageEditor.Apply(Encoding.UTF8.GetBytes(CrlfMessage), Envelope, verdict.Edits));
    }

    [TestCaseSource(nameof(Edits))]
    public void Each_edit_runs_exactly_as_MessageEditor_applies_it_in_an_LF_message(MessageEdit edit)
    {
        var message = CrlfMessage.Replace("\r\n", "\n", StringComparison.Ordinal);
        var verdict = Verdict(edits: [edit]);

        var outcome = RunActionString(verdict, message);

        AssertSame(outcome, MessageEditor.Apply(Encoding.UTF8.GetBytes(message), Envelope, verdict.Edits));
    }

    [Test]
    public void Every_edit_in_one_verdict_runs_in_order_as_MessageEditor_applies_them()
    {
        var edits = Edits().Select(c => (MessageEdit)c.Arguments[0]!).ToArray();
        var verdict = Verdict(edits: edits, quarantine: "held \"for\" review");

        var outcome = RunActionString(verdict, CrlfMessage);

        AssertSame(outcome, MessageEditor.Apply(Encoding.UTF8.GetBytes(CrlfMessage), Envelope, verdict.Edits));
        Assert.That(outcome.QuarantineReason, Is.EqualTo(verdict.QuarantineReason));
        // An empty value deletes (deleteheader), and deleting a fifth X-Old that is not there is no edit at all.
        Assert.That(outcome.Edits, Has.Count.EqualTo(edits.Count(e => e is not ChangeHeader { Index: 5, Value.IsEmpty: true })));
    }

    [Test]
    public void A_quarantine_holds_the_edited_message_with_the_milters_reason()
    {
        var verdict = Verdict(edits: [new AddHeader("X-Spam", " yes")], quarantine: "looks like a lottery scam");

        var outcome = RunActionString(verdict, CrlfMessage);

        Assert.That((outcome.Disposition, outcome.QuarantineReason, outcome.Keep), Is.EqualTo((SieveDisposition.Deliver, "looks like a lottery scam", true)));
        AssertSame(outcome, MessageEditor.Apply(Encoding.UTF8.GetBytes(CrlfMessage), Envelope, verdict.Edits));
    }

    [Test]
    public void Refused_recipients_are_refused_with_their_replies_and_the_others_kept()
    {
        var verdict = Verdict(recipients:
            [
                new RecipientDecision("<carol@example.com>", FilterAction.Reject, new SmtpReply(550, "5.1.1", "No such user here")),
                new RecipientDecision("<bob@example.com>", FilterAction.Accept, null),
            ]);

        var outcome = RunActionString(verdict, CrlfMessage);

        Assert.That(outcome.RefusedRecipients, Is.EqualTo(new[] { new RefusedRecipient("carol@example.com", new SmtpReply(550, "5.1.1", "No such user here")) }));
        Assert.That(outcome.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(outcome.Message, Is.EqualTo(Encoding.UTF8.GetBytes(CrlfMessage)));
    }

    [Test]
    public void A_recipient_refused_for_now_gets_the_milters_4xx_reply_or_the_default()
    {
        var verdict = Verdict(recipients: [new RecipientDecision("bob@example.com", FilterAction.TempFail, null)]);

        var outcome = RunActionString(verdict, CrlfMessage);

        Assert.That(outcome.RefusedRecipients.Single().Reply, Is.EqualTo(SmtpReply.DefaultTempFail));
        Assert.That(outcome.RefusedRecipients.Single().Reply.IsTransient, Is.True);
    }

    private static IEnumerable<TestCaseData> Refusals()
    {
        yield return new TestCaseData(FilterAction.Reject, new SmtpReply(554, "5.7.1", "Virus found"), SieveDisposition.Reject).SetArgDisplayNames("ereject with the milter's reply");
        yield return new TestCaseData(FilterAction.Reject, new SmtpReply(554, "5.7.1", ["line one", "line two"]), SieveDisposition.Reject).SetArgDisplayNames("ereject multi-line");
        yield return new TestCaseData(FilterAction.Reject, new SmtpReply(550, null, "no"), SieveDisposition.Reject).SetArgDisplayNames("ereject without an enhanced code");
        yield return new TestCaseData(FilterAction.Reject, null, SieveDisposition.Reject).SetArgDisplayNames("ereject with the default reply");
        yield return new TestCaseData(FilterAction.TempFail, new SmtpReply(451, "4.7.1", "Try \"later\""), SieveDisposition.TempFail).SetArgDisplayNames("tempfail with the milter's reply");
        yield return new TestCaseData(FilterAction.TempFail, null, SieveDisposition.TempFail).SetArgDisplayNames("tempfail with the default reply");
    }

    [TestCaseSource(nameof(Refusals))]
    public void A_refusal_refuses_with_exactly_the_verdicts_reply_and_the_original_message(FilterAction action, SmtpReply? reply, SieveDisposition disposition)
    {
        var verdict = Verdict(action, reply, [new AddHeader("X-Dropped", " 1")]);

        var outcome = RunActionString(verdict, CrlfMessage);

        Assert.That((outcome.Disposition, outcome.Reply), Is.EqualTo((disposition, verdict.Reply)));
        Assert.That(outcome.Message, Is.EqualTo(Encoding.UTF8.GetBytes(CrlfMessage)), "a refusal drops the edits");
    }

    [Test]
    public void A_discard_discards()
    {
        var verdict = Verdict(FilterAction.Discard);

        var outcome = RunActionString(verdict, CrlfMessage);

        Assert.That((outcome.Disposition, outcome.Keep), Is.EqualTo((SieveDisposition.Discard, false)));
    }
}
