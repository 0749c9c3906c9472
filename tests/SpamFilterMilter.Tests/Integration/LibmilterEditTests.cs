using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>End-of-message edits from a real libmilter milter: structured, as an action string, and applied.</summary>
[Category("Integration")]
public class LibmilterEditTests : TempFolderTest
{
    private const string Message = "From: alice@example.org\r\nSubject: hello\r\nX-Old: 1\r\nX-Old: 2\r\n\r\nOriginal body\r\n";

    private static MessageSubmission Submission() => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321),
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = new MemoryStream(Encoding.ASCII.GetBytes(Message)),
    };

    private Task<FilterVerdict> FilterAsync(params string[] eomActions) => FilterWithTimeoutAsync(1000, eomActions);

    private async Task<FilterVerdict> FilterWithTimeoutAsync(int timeout, params string[] eomActions)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(eomActions.SelectMany(a => new[] { "-a", "eom=" + a }).ToArray());
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, timeout: timeout));
        return await plugin.FilterMessageAsync(Submission());
    }

    [Test]
    public async Task Header_edits_and_quarantine_come_back_structured_as_Sieve_and_apply_byte_exactly()
    {
        var verdict = await FilterAsync(
            "addheader:X-Spam-Flag:YES",
            "insheader:0:X-Top:first",
            "chgheader:1:Subject:[SPAM] hello",
            "chgheader:2:X-Old:",
            "addheader:X-Folded:a\\n\\tb",
            "quarantine:held by test");

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.String));
        Assert.That(verdict.Edits, Is.EqualTo(new MessageEdit[]
        {
            new AddHeader("X-Spam-Flag", " YES"),
            new InsertHeader(0, "X-Top", " first"),
            new ChangeHeader(1, "Subject", " [SPAM] hello"),
            new ChangeHeader(2, "X-Old", null),
            new AddHeader("X-Folded", " a\n\tb"),
        }));
        Assert.That(verdict.QuarantineReason, Is.EqualTo("held by test"));
        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            "addheader :last \"X-Spam-Flag\" \"YES\";",
            "addheader \"X-Top\" \"first\";",
            "replaceheader :index 1 \"Subject\" \"[SPAM] hello\";",
            "deleteheader :index 2 \"X-Old\";",
            "addheader :last \"X-Folded\" \"a\n\tb\";",
            "quarantine \"held by test\";")));
        Assert.That(Encoding.ASCII.GetString(MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), verdict.Edits)), Is.EqualTo(
            "X-Top: first\r\nFrom: alice@example.org\r\nSubject: [SPAM] hello\r\nX-Old: 1\r\nX-Spam-Flag: YES\r\nX-Folded: a\r\n\tb\r\n\r\nOriginal body\r\n"));
    }

    [Test]
    public async Task Header_edits_with_8bit_bytes_arrive_unchanged_in_the_verdict_the_action_string_and_the_delivered_message()
    {
        var verdict = await FilterAsync(
            "insheader:1:X-Broken:\\xc3\\x28 \\xff",
            "chgheader:1:Subject:caf\\xc3\\xa9",
            "addheader:X-Latin:caf\\xe9",
            "addheader:X-Unfolded:a\\nb");

        byte[] broken = [0x20, 0xC3, 0x28, 0x20, 0xFF];
        Assert.That(verdict.Edits, Is.EqualTo(new MessageEdit[]
        {
            new InsertHeader(1, "X-Broken", new RawText(broken)),
            new ChangeHeader(1, "Subject", " café"),
            new AddHeader("X-Latin", new RawText([0x20, 0x63, 0x61, 0x66, 0xE9])),
            new AddHeader("X-Unfolded", " a\nb"),
        }), "the milter's bytes, one space added as Postfix adds it");
        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require [\"vnd.spamfiltermilter\", \"editheader\"];",
            $"insertheader :index 1 :base64 \"X-Broken\" \"{Convert.ToBase64String(broken[1..])}\";",
            "replaceheader :index 1 \"Subject\" \"café\";",
            "addheader :last :base64 \"X-Latin\" \"Y2Fm6Q==\";",
            "addheader :last \"X-Unfolded\" \"a\nb\";")), "UTF-8 stays readable; other bytes go in base64");

        var original = Encoding.ASCII.GetBytes(Message);
        var envelope = new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]);
        var delivered = SieveScript.Parse(verdict.Text!).Run(original, envelope).Message;
        byte[] expected = [.. "From: alice@example.org\r\nX-Broken:"u8, .. broken, .. "\r\nSubject: caf\u00e9\r\nX-Old: 1\r\nX-Old: 2\r\nX-Latin: caf"u8, 0xE9,
            .. "\r\nX-Unfolded: a\r\n\tb\r\n\r\nOriginal body\r\n"u8];
        Assert.That(delivered, Is.EqualTo(expected), "through the action string, byte for byte");
        Assert.That(MessageEditor.Apply(original, verdict.Edits), Is.EqualTo(expected), "the structured edits say the same");
    }

    [Test]
    public async Task Envelope_and_body_edits_reach_the_host_exactly()
    {
        var verdict = await FilterAsync(
            "addrcpt:<new@example.com>",
            "addrcpt_par:<par@example.com>:NOTIFY=NEVER",
            "delrcpt:<bob@example.com>",
            "chgfrom:<bounces@example.org>:RET=HDRS",
            "replbody:Replaced\\r\\nbody\\r\\n");

        Assert.That(verdict.Edits, Is.EqualTo(new MessageEdit[]
        {
            new AddRecipient("<new@example.com>"),
            new AddRecipient("<par@example.com>", ["NOTIFY=NEVER"]),
            new DeleteRecipient("<bob@example.com>"),
            new ChangeSender("<bounces@example.org>", ["RET=HDRS"]),
            new ReplaceBody(Encoding.ASCII.GetBytes("Replaced\r\nbody\r\n")),
        }).Using<MessageEdit>(EditComparer));
        var edited = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]), verdict.Edits);
        Assert.That(edited.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "new@example.com", "par@example.com" }));
        Assert.That(edited.Envelope.MailFrom, Is.EqualTo("bounces@example.org"));
        Assert.That(Encoding.ASCII.GetString(edited.Message), Does.EndWith("\r\n\r\nReplaced\r\nbody\r\n"));
        Assert.That(verdict.Text, Does.Contain("replacebody \"" + Convert.ToBase64String(Encoding.ASCII.GetBytes("Replaced\r\nbody\r\n")) + "\";"));
    }

    [Test]
    public async Task A_replacement_body_larger_than_one_packet_arrives_whole_from_libmilter()
    {
        // libmilter cuts smfi_replacebody into 65535-byte SMFIR_REPLBODY packets; 100 000 bytes make two.
        var line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\r\n";
        var replacement = string.Concat(Enumerable.Repeat(line.Replace("\\r\\n", "\r\n", StringComparison.Ordinal), 980));

        var verdict = await FilterAsync("replbody:" + string.Concat(Enumerable.Repeat(line, 980)), "addrcpt_par:<noargs@example.com>:");

        var body = verdict.Edits.OfType<ReplaceBody>().Single();
        Assert.That(Encoding.ASCII.GetString(body.Body.ToArray()), Is.EqualTo(replacement));
        Assert.That(body.Body.Length, Is.GreaterThan(65535));
        Assert.That(verdict.Edits.OfType<AddRecipient>().Single(), Is.EqualTo(new AddRecipient("<noargs@example.com>")), "ADDRCPT_PAR without its argument string");
    }

    [Test]
    public async Task A_replacement_body_over_MAX_REPLACEMENT_BODY_is_a_failure()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=replbody:" + new string('b', 5000));
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, "MAX_REPLACEMENT_BODY=4096\n"));

        var verdict = await plugin.FilterMessageAsync(Submission());

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Failure!.Cause, Is.EqualTo("SMFIC_BODYEOB reply: the replacement body is larger than the 4096 bytes allowed"));
    }

    [Test]
    public async Task A_multi_line_reply_arrives_whole()
    {
        var verdict = await FilterAsync("mlreply:550:5.7.0:first line|second line|third line");

        Assert.That(verdict.Reply!.ToString(), Is.EqualTo("550-5.7.0 first line\r\n550-5.7.0 second line\r\n550 5.7.0 third line"));
        Assert.That(verdict.Action, Is.EqualTo(FilterAction.Reject));
    }

    [Test]
    public async Task Progress_while_the_milter_works_keeps_the_session_waiting_beyond_TIMEOUT()
    {
        // TIMEOUT=30 is 0.3 s per read; the milter works 0.6 s in all, saying SMFIR_PROGRESS every 0.2 s.
        var verdict = await FilterWithTimeoutAsync(30, "progress", "sleep:200", "progress", "sleep:200", "progress", "sleep:200", "addheader:X-Late:yes");
        var silent = await FilterWithTimeoutAsync(30, "sleep:600", "addheader:X-Late:yes");

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Late", " yes") }));
        Assert.That(silent.Failure?.Cause, Does.Contain("timed out after 0.3 s"), "the same work without PROGRESS runs into TIMEOUT");
    }

    /// <summary>ReplaceBody holds memory; compare its bytes.</summary>
    private static bool EditComparer(MessageEdit a, MessageEdit b) =>
        a is ReplaceBody x && b is ReplaceBody y ? x.Body.ToArray().SequenceEqual(y.Body.ToArray()) : a.Equals(b);
}
