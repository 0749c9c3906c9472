using Microsoft.Extensions.Logging;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;
using SpamFilterMilter.Testing;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// Text from a milter that could become an SMTP command or a header line of its own (CR, LF or NUL in an envelope
/// edit, a header, a quarantine reason, a reply) never reaches the host as data: the message gets the failure
/// outcome with one warning, and that warning quotes the milter's text escaped and bounded.
/// </summary>
[TestFixture("async")]
[TestFixture("blocking")]
public class InjectionTests(string io) : TempFolderTest
{
    private static readonly string HugeName = "X-" + new string('N', 200_000) + "\r\nBcc: evil@example.net";

    private static IEnumerable<TestCaseData> Vectors()
    {
        static TestCaseData Case(string name, byte[] edit, string cause) => new TestCaseData(edit, cause).SetArgDisplayNames(name);

        yield return Case("CHGFROM address with CRLF", Raw.Packet('e', Raw.CString("<a@example.org>\r\nRCPT TO:<evil@example.net>")), "SMFIR_CHGFROM: a control character in the sender");
        yield return Case("CHGFROM arguments with a bare CR", Raw.Packet('e', Raw.CString("<a@example.org>"), Raw.CString("SIZE=1\rRCPT TO:<evil@example.net>")), "SMFIR_CHGFROM: a control character in the ESMTP arguments");
        yield return Case("ADDRCPT address with LF", Raw.Packet('+', Raw.CString("<b@example.org>\nDATA")), "SMFIR_ADDRCPT: a control character in the recipient");
        yield return Case("ADDRCPT_PAR arguments with CRLF", Raw.Packet('2', Raw.CString("<b@example.org>"), Raw.CString("NOTIFY=NEVER\r\nQUIT")), "SMFIR_ADDRCPT_PAR: a control character in the ESMTP arguments");
        yield return Case("ADDRCPT_PAR arguments with a NUL", Raw.Packet('2', Raw.CString("<b@example.org>"), Raw.CString("NOTIFY=NEVER"), Raw.CString("QUIT")), "SMFIR_ADDRCPT_PAR: followed by 5 unexpected data bytes");
        yield return Case("DELRCPT address with LF", Raw.Packet('-', Raw.CString("<b@example.org>\n")), "SMFIR_DELRCPT: a control character in the recipient");
        yield return Case("ADDRCPT address followed by ESMTP parameters", Raw.Packet('+', Raw.CString("<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;boss@example.net")), "SMFIR_ADDRCPT: the recipient \"<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;boss@example.net\" is not one address (text after the closing '>', or no closing '>')");
        yield return Case("ADDRCPT_PAR address with a blank", Raw.Packet('2', Raw.CString("a@example.org SIZE=1"), Raw.CString("NOTIFY=NEVER")), "SMFIR_ADDRCPT_PAR: the recipient \"a@example.org SIZE=1\" is not one address (a blank outside a quoted local part)");
        yield return Case("CHGFROM address followed by RET and ENVID", Raw.Packet('e', Raw.CString("<x@example.org> RET=FULL ENVID=forged")), "SMFIR_CHGFROM: the sender \"<x@example.org> RET=FULL ENVID=forged\" is not one address");
        yield return Case("DELRCPT address with a bracket inside", Raw.Packet('-', Raw.CString("b@example.org>")), "SMFIR_DELRCPT: the recipient \"b@example.org>\" is not one address ('>' inside the address)");
        yield return Case("ADDRCPT address in Latin-1", Raw.Packet('+', [.. "caf"u8, 0xE9, .. "@example.org"u8, 0]), "SMFIR_ADDRCPT: text that is not UTF-8 in the recipient: \"caf\\xe9@example.org\"");
        yield return Case("ADDRCPT address with a C1 control in UTF-8", Raw.Packet('+', [.. "a"u8, 0xC2, 0x9B, .. "b@example.org"u8, 0]), "SMFIR_ADDRCPT: a control character in the recipient");
        yield return Case("CHGFROM arguments in Latin-1", Raw.Packet('e', Raw.CString("<a@example.org>"), [.. "ENVID=caf"u8, 0xE9, 0]), "SMFIR_CHGFROM: text that is not UTF-8 in the ESMTP arguments");
        yield return Case("header value with a bare CR", Raw.Packet('h', Raw.CString("Subject"), Raw.CString("x\rBcc: evil@example.net")), "SMFIR_ADDHEADER: the header value holds a CR that is not part of a line break");
        yield return Case("header value with a bare CR after a fold", Raw.Packet('m', Raw.UInt32(1), Raw.CString("Subject"), Raw.CString("x\r\n\tfolded\rBcc: evil@example.net")), "SMFIR_CHGHEADER: the header value holds a CR that is not part of a line break");
        yield return Case("header name of 200 KB with CRLF", Raw.Packet('h', Raw.CString(HugeName), Raw.CString("v")), "SMFIR_ADDHEADER: \"X-NNN");
        yield return Case("REPLYCODE text with a bare LF", Raw.Packet('y', Raw.CString("550 5.7.1 no\nRCPT TO:<evil@example.net>")), "SMFIR_REPLYCODE: malformed SMTP reply: line 1 holds a CR, LF or NUL");
    }

    private async Task<(FilterVerdict Verdict, CapturedLogs Logs)> FilterAsync(byte[] edit)
    {
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, p => p.Code == 'E' ? [edit, Raw.Packet('c')] : null);
        var logs = new CapturedLogs(LogLevel.Warning);
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\n"), logs);

        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25),
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient("bob@example.com")],
            Message = new MemoryStream(Message),
        });
        await milter;
        return (verdict, logs);
    }

    private static readonly byte[] Message = "Subject: hello\r\n\r\nbody\r\n"u8.ToArray();

    [TestCaseSource(nameof(Vectors))]
    public async Task Text_that_could_break_out_of_its_place_fails_the_message_and_is_logged_escaped_and_bounded(byte[] edit, string cause)
    {
        var (verdict, logs) = await FilterAsync(edit);
        using var _ = logs;

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure), verdict.Text);
        Assert.That((verdict.Edits, verdict.Failure!.Stage), Is.EqualTo((Array.Empty<MessageEdit>(), (FilterStage?)FilterStage.EndOfMessage)), "nothing of the milter's reaches the host as data");
        Assert.That(verdict.Failure.Cause, Does.StartWith("SMFIC_BODYEOB reply: " + cause));
        var warning = logs.Entries.Single(e => e.Level >= LogLevel.Warning);
        Assert.That(warning.Message, Does.Not.Contain('\r').And.Not.Contain('\n').And.Not.Contain('\0'), "one line");
        Assert.That(warning.Message.Length, Is.LessThan(1000), "bounded");
        Assert.That(verdict.Text!.Split('\n')[0].Length, Is.LessThan(1000), "the action string's comment is bounded too");
    }

    [Test]
    public async Task A_header_line_break_that_does_not_fold_is_folded_with_a_tab_as_Postfix_writes_it()
    {
        var (verdict, logs) = await FilterAsync(Raw.Packet('m', Raw.UInt32(1), Raw.CString("Subject"), Raw.CString("x\r\nBcc: evil@example.net\n\nbody")));
        using var _ = logs;

        Assert.That(verdict.Edits, Is.EqualTo(new[] { new ChangeHeader(1, "Subject", " x\r\nBcc: evil@example.net\n\nbody") }), "the milter's bytes");
        var delivered = SieveScript.Parse(verdict.Text!).Run(Message, new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")])).Message;
        Assert.That(Encoding.ASCII.GetString(delivered), Is.EqualTo("Subject: x\r\n\tBcc: evil@example.net\r\n\t\r\n\tbody\r\n\r\nbody\r\n"),
            "every line of the value a continuation: no header line, and no end of the header, of the milter's making");
    }
}
