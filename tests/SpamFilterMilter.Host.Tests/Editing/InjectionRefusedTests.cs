using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// The host's second line of defence (the plug-in refuses such text first): an edit or an action that would put a
/// line of its own making into the message, or a command of its own into the envelope, is refused by the editor and
/// by the Sieve interpreter, whoever made it.
/// </summary>
public class InjectionRefusedTests
{
    private static readonly byte[] Message = "Subject: hello\r\n\r\nbody\r\n"u8.ToArray();
    private static readonly Envelope Envelope = new("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]);

    private static IEnumerable<TestCaseData> Edits()
    {
        yield return new TestCaseData(new AddHeader("Subject", " x\rBcc: evil@example.net")).SetArgDisplayNames("header value with a bare CR");
        yield return new TestCaseData(new InsertHeader(0, "Subject", " x\r\n\tfolded\r")).SetArgDisplayNames("header value with a bare CR at its end");
        yield return new TestCaseData(new ChangeHeader(1, "Subject", " x\0y")).SetArgDisplayNames("header value with a NUL");
        yield return new TestCaseData(new InsertHeader(0, "X-A\r\nBcc", " v")).SetArgDisplayNames("header name with CRLF");
        yield return new TestCaseData(new ChangeSender("a@example.org>\r\nRCPT TO:<evil@example.net")).SetArgDisplayNames("sender with CRLF");
        yield return new TestCaseData(new ChangeSender("a@example.org", ["SIZE=1\rRCPT", "TO:<evil@example.net>"])).SetArgDisplayNames("sender parameters with a bare CR");
        yield return new TestCaseData(new AddRecipient("b@example.org\nDATA")).SetArgDisplayNames("recipient with LF");
        yield return new TestCaseData(new AddRecipient("b@example.org", ["NOTIFY=NEVER\0QUIT"])).SetArgDisplayNames("recipient parameters with a NUL");
        yield return new TestCaseData(new AddRecipient("<b@example.org> NOTIFY=NEVER")).SetArgDisplayNames("recipient followed by a parameter");
        yield return new TestCaseData(new ChangeSender("<x@example.org> RET=FULL ENVID=forged")).SetArgDisplayNames("sender followed by parameters");
        yield return new TestCaseData(new DeleteRecipient("b@example.org SIZE=1")).SetArgDisplayNames("recipient with a blank");
    }

    [TestCaseSource(nameof(Edits))]
    public void The_editor_refuses_an_edit_that_would_break_out_of_its_place(MessageEdit edit)
    {
        var e = Assert.Throws<ArgumentException>(() => MessageEditor.Apply(Message, Envelope, [edit]))!;

        Assert.That(e.Message, Does.StartWith(edit.GetType().Name + ": "));
        Assert.That(e.Message, Does.Not.Contain('\r').And.Not.Contain('\n').And.Not.Contain('\0'), "the text is quoted escaped");
    }

    [TestCase("changesender \"a@example.org\" \"SIZE=1\\rRCPT TO:<evil@example.net>\";", "a control character in the ESMTP parameters")]
    [TestCase("changesender \"a@example.org>\\r\\nRCPT TO:<evil@example.net\";", "a control character in the sender")]
    [TestCase("addrecipient \"b@example.org\" \"NOTIFY=NEVER\\nQUIT\";", "a control character in the ESMTP parameters")]
    [TestCase("addrecipient \"b@example.org\\r\\nDATA\";", "is not one address: a control character (\\x0d)")]
    [TestCase("addrecipient \"<a@example.org> NOTIFY=SUCCESS ORCPT=rfc822;boss@example.net\";", "is not one address: text after the closing '>'")]
    [TestCase("changesender \"<x@example.org> RET=FULL ENVID=forged\";", "is not one address: text after the closing '>'")]
    [TestCase("deleterecipient \"b@example.org SIZE=1\";", "is not one address: a blank outside a quoted local part")]
    [TestCase("quarantine \"held\\nX-Injected: 1\";", "a control character in the quarantine reason")]
    [TestCase("addheader :last :raw \"Subject\" \"x\\rBcc: evil@example.net\";", "a header value may not hold a bare CR or a NUL")]
    public void A_Sieve_action_that_would_break_out_of_its_place_fails_at_its_command(string command, string problem)
    {
        // The strings carry real control characters: Sieve's quoted strings keep line breaks, and the test writes them with C# escapes.
        var script = "require [\"editheader\", \"vnd.spamfiltermilter\"];\n" + Unescape(command);

        var e = Assert.Throws<SieveException>(() => SieveScript.Parse(script).Run(Message, Envelope))!;

        Assert.That(e.Line, Is.EqualTo(2), "at the command");
        Assert.That(e.Problem, Does.Contain(problem));
    }

    private static string Unescape(string text) => text.Replace("\\r", "\r", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal);

    [Test]
    public void The_null_sender_and_ordinary_parameters_are_still_taken()
    {
        var outcome = SieveScript.Parse("require \"vnd.spamfiltermilter\";\nchangesender \"<>\" \"RET=HDRS\";\naddrecipient \"<c@example.org>\" \"NOTIFY=SUCCESS ORCPT=rfc822;c@example.org\";")
            .Run(Message, Envelope);

        Assert.That((outcome.Envelope.MailFrom, outcome.Envelope.MailParameters), Is.EqualTo((string.Empty, new[] { "RET=HDRS" })));
        Assert.That(outcome.Envelope.Recipients[^1].Parameters, Is.EqualTo(new[] { "NOTIFY=SUCCESS", "ORCPT=rfc822;c@example.org" }));
        Assert.That(Encoding.ASCII.GetString(outcome.Message), Is.EqualTo(Encoding.ASCII.GetString(Message)));
    }
}
