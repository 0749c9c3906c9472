using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// The ESMTP parameters of a filter's envelope edits take effect as Postfix applies them (cleanup_milter.c; the Postfix
/// lab's captures 10, 23 and 24 are the first rows): a sender change honours RET and ENVID and keeps the client's other
/// parameters (BODY= above all), an added recipient honours NOTIFY and ORCPT, every other parameter is ignored with a
/// note naming it.
/// </summary>
public class EnvelopeParametersTests
{
    private static readonly byte[] Message = Encoding.ASCII.GetBytes("Subject: s\r\n\r\nbody\r\n");

    private static IEnumerable<TestCaseData> SenderChanges()
    {
        // client's MAIL parameters, the milter's CHGFROM arguments, the MAIL parameters that result, the parameters ignored
        yield return Row("capture 10: RET and ENVID replace the client's, BODY stays",
            "BODY=8BITMIME RET=HDRS ENVID=orig-envid", "RET=FULL ENVID=milter-envid", "BODY=8BITMIME RET=FULL ENVID=milter-envid");
        yield return Row("capture 23: without arguments every parameter stays",
            "BODY=8BITMIME RET=HDRS ENVID=orig-envid", "", "BODY=8BITMIME RET=HDRS ENVID=orig-envid");
        yield return Row("capture 24: BODY, SIZE and the unknown are ignored",
            "BODY=8BITMIME", "BODY=8BITMIME SIZE=12345 XFOO=bar", "BODY=8BITMIME", "BODY=8BITMIME", "SIZE=12345", "XFOO=bar");
        yield return Row("a milter cannot take BODY away", "BODY=8BITMIME", "BODY=7BIT RET=HDRS", "BODY=8BITMIME RET=HDRS", "BODY=7BIT");
        yield return Row("SIZE and SMTPUTF8 of the original stay", "SIZE=100 SMTPUTF8 BODY=8BITMIME", "RET=HDRS SMTPUTF8", "SIZE=100 SMTPUTF8 BODY=8BITMIME RET=HDRS", "SMTPUTF8");
        yield return Row("RET alone keeps the client's ENVID", "RET=HDRS ENVID=a", "ret=full", "RET=FULL ENVID=a");
        yield return Row("ENVID alone keeps the client's RET", "RET=HDRS ENVID=a", "ENVID=b+2Bc", "RET=HDRS ENVID=b+2Bc");
        yield return Row("the last valid RET wins", "", "RET=HDRS RET=FULL", "RET=FULL");
        yield return Row("bad values are ignored", "RET=HDRS", "RET=BOGUS ENVID=bad+ZZ ENVID=ctl+0A ENVID", "RET=HDRS", "RET=BOGUS", "ENVID=bad+ZZ", "ENVID=ctl+0A", "ENVID");
        yield return Row("AUTH of the client stays, the milter's is ignored", "AUTH=<a@b>", "AUTH=<>", "AUTH=<a@b>", "AUTH=<>");
    }

    private static IEnumerable<TestCaseData> AddedRecipients()
    {
        // the milter's ADDRCPT_PAR arguments, the recipient's parameters that result, the parameters ignored
        yield return Rcpt("capture 10: NOTIFY and ORCPT", "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig-added@example.org", "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig-added@example.org");
        yield return Rcpt("without arguments", "", "");
        yield return Rcpt("NOTIFY is read in any case", "notify=never", "NOTIFY=NEVER");
        yield return Rcpt("NEVER does not combine", "NOTIFY=NEVER,SUCCESS", "", "NOTIFY=NEVER,SUCCESS");
        yield return Rcpt("an unknown NOTIFY word", "NOTIFY=SOMETIMES ORCPT=rfc822;a+2Bb@c", "ORCPT=rfc822;a+2Bb@c", "NOTIFY=SOMETIMES");
        yield return Rcpt("the first NOTIFY and ORCPT win", "NOTIFY=SUCCESS NOTIFY=FAILURE ORCPT=rfc822;a ORCPT=rfc822;b", "NOTIFY=SUCCESS ORCPT=rfc822;a", "NOTIFY=FAILURE", "ORCPT=rfc822;b");
        yield return Rcpt("ORCPT needs type;xtext", "ORCPT=rfc822 ORCPT=;x ORCPT=rfc822;a+ZZ", "", "ORCPT=rfc822", "ORCPT=;x", "ORCPT=rfc822;a+ZZ");
        yield return Rcpt("what a recipient has no use for", "BODY=8BITMIME XFOO=1 NOTIFY=FAILURE", "NOTIFY=FAILURE", "BODY=8BITMIME", "XFOO=1");
    }

    private static TestCaseData Row(string name, string client, string milter, string result, params string[] ignored) =>
        new TestCaseData(client, milter, result, ignored).SetArgDisplayNames(name);

    private static TestCaseData Rcpt(string name, string milter, string result, params string[] ignored) =>
        new TestCaseData(milter, result, ignored).SetArgDisplayNames(name);

    [TestCaseSource(nameof(SenderChanges))]
    public void A_sender_change_honours_RET_and_ENVID_and_keeps_the_clients_other_parameters(string client, string milter, string result, string[] ignored)
    {
        var envelope = new Envelope("alice@example.org", EsmtpParameters.Split(client), [new EnvelopeRecipient("bob@example.com")]);

        var edited = MessageEditor.Apply(Message, envelope, [new ChangeSender("<new@example.org>", EsmtpParameters.Split(milter))]);

        Assert.That(edited.Envelope.MailFrom, Is.EqualTo("new@example.org"), "the sender changes whatever its parameters");
        Assert.That(edited.Envelope.MailParameters, Is.EqualTo(EsmtpParameters.Split(result)));
        AssertNotes(edited.Notes, ignored, "a sender change");
    }

    [TestCaseSource(nameof(AddedRecipients))]
    public void An_added_recipient_honours_NOTIFY_and_ORCPT(string milter, string result, string[] ignored)
    {
        var envelope = new Envelope("alice@example.org", ["BODY=8BITMIME"], [new EnvelopeRecipient("bob@example.com")]);

        var edited = MessageEditor.Apply(Message, envelope, [new AddRecipient("<new@example.org>", EsmtpParameters.Split(milter))]);

        Assert.That(edited.Envelope.Recipients[^1], Is.EqualTo(new EnvelopeRecipient("new@example.org", EsmtpParameters.Split(result))), "the recipient is added whatever its parameters");
        Assert.That(edited.Envelope.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME" }));
        AssertNotes(edited.Notes, ignored, "an added recipient");
    }

    [Test]
    public void A_script_lists_what_it_ignored_under_the_command_that_carried_it()
    {
        var envelope = new Envelope("alice@example.org", ["BODY=8BITMIME", "RET=HDRS"], [new EnvelopeRecipient("bob@example.com")]);

        var outcome = SieveScript.Parse("require \"vnd.spamfiltermilter\";\nchangesender \"<new@example.org>\" [\"RET=FULL\", \"BODY=7BIT\"];\nkeep;").Run(Message, envelope);

        Assert.That(outcome.Envelope.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME", "RET=FULL" }));
        Assert.That(outcome.Actions, Is.EqualTo(new[]
        {
            "changesender \"<new@example.org>\" [\"RET=FULL\", \"BODY=7BIT\"]",
            "  the ESMTP parameter \"BODY=7BIT\" of a sender change is ignored: the sender's RET and ENVID are all a filter may change, as in Postfix",
            "keep",
        }));
    }

    private static void AssertNotes(IReadOnlyList<string> notes, string[] ignored, string edit)
    {
        Assert.That(notes, Has.Count.EqualTo(ignored.Length), string.Join("\n", notes));
        for (var i = 0; i < ignored.Length; i++)
        {
            Assert.That(notes[i], Does.StartWith($"the ESMTP parameter \"{ignored[i]}\" of {edit} is ignored: "));
        }
    }
}
