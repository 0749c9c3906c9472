using System.Globalization;
using System.Net;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// The whole chain: option.dat selects the milter plug-in (loaded by path from plugins/) for one user and not
/// for another; a real libmilter milter filters the message; the action string it produced is run, and the
/// delivered copies differ exactly as they should.
/// </summary>
[Category("Integration")]
public class EndToEndTests : TempFolderTest
{
    private const string Text = "From: alice@example.org\r\nTo: bob@example.com, carol@example.com\r\nSubject: hello\r\n\r\nBody\r\n";

    private static HostMessage Message(IReadOnlyList<string>? mailParameters = null) => new()
    {
        Message = Encoding.ASCII.GetBytes(Text),
        Envelope = new Envelope("alice@example.org", mailParameters, [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("carol@example.com")]),
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net"),
        HeloName = "client.example.net",
    };

    private string OptionDat(MilterProcess milter, string extra = "", string milterOptions = "")
    {
        Folder.Write("directory.ldif", "dn: uid=bob\nmail: bob@example.com\nmailAntiUBEService: spam\n\ndn: uid=carol\nmail: carol@example.com\n");
        return Folder.Write("option.dat",
            $"spamfilter1_library={DeployedPlugin.Path}\n" +
            $"spamfilter1_config_file={milter.OptionFile(Folder, milterOptions)}\n" +
            "LDAP_OPTIN1=mailAntiUBEService\n" +
            "DIRECTORY_FILE=directory.ldif\n" + extra);
    }

    [Test]
    public async Task A_libmilter_milter_selected_for_one_user_edits_and_quarantines_only_that_users_copy()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-a", "eom=addheader:X-Spam-Flag:YES",
            "-a", "eom=chgheader:1:Subject:[SPAM] hello",
            "-a", "eom=quarantine:held by the test milter");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter)));

        var result = await host.FilterAsync(Message());

        var bob = result.For("bob@example.com");
        var carol = result.For("carol@example.com");
        Assert.That((bob.Disposition, bob.QuarantineReason), Is.EqualTo((Disposition.Quarantine, "held by the test milter")));
        Assert.That(Encoding.ASCII.GetString(bob.Message), Is.EqualTo(
            "From: alice@example.org\r\nTo: bob@example.com, carol@example.com\r\nSubject: [SPAM] hello\r\nX-Spam-Flag: YES\r\n\r\nBody\r\n"));
        Assert.That(bob.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That((carol.Disposition, Encoding.ASCII.GetString(carol.Message)), Is.EqualTo((Disposition.Deliver, Text)), "carol did not opt in: her copy is untouched");

        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Where(l => l.Event == "rcpt").Select(l => l.Fields[0]), Is.EqualTo(new[] { "<bob@example.com>" }), "the milter saw only the recipient that opted in");
        Assert.That(transcript.Any(l => l.Event == "macro" && l.Fields is [_, "{spamfilter_optin}", "spam"]), Is.True, "the opt-in value reached the milter");
    }

    // The plug-in (IO_MODE=async) finishes its calls on its own I/O thread; the host's code after FilterAsync ran there, and
    // what it did that blocked (the relay's maildir write and fsync) held up every milter connection that thread serves.
    // The milter sleeps at the end of the message so that its answer comes after the host waits for it.
    [Test]
    public async Task The_code_after_FilterAsync_runs_on_a_thread_pool_thread_not_on_the_plugins_IO_thread()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=sleep:100");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter)));
        var threads = new List<string?>();

        for (var i = 0; i < 3; i++)
        {
            await host.FilterAsync(Message());
            threads.Add(Thread.CurrentThread.IsThreadPoolThread ? null : Thread.CurrentThread.Name ?? "another thread");
        }

        Assert.That(threads, Is.EqualTo(new string?[] { null, null, null }), "the threads that were not the pool's");
    }

    // Each row: the body the milter sends back (the test milter decodes \r, \n), and the body delivered.
    [TestCase("Replaced.\\r\\nLast line without CRLF", "Replaced.\r\nLast line without CRLF\r\n", TestName = "A replacement body without a final CRLF is delivered with its last line ended, as Postfix does")]
    [TestCase("one\\ntwo\\r\\n", "one\r\ntwo\r\n", TestName = "A bare LF in a replacement body is delivered as the message's CRLF")]
    [TestCase("", "", TestName = "An empty replacement body is delivered empty")]
    public async Task A_libmilter_replacement_body_is_delivered_with_whole_lines(string replacement, string delivered)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=replbody:" + replacement);
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter)));

        var result = await host.FilterAsync(Message());

        Assert.That(Encoding.ASCII.GetString(result.For("bob@example.com").Message), Is.EqualTo(Text.Replace("Body\r\n", delivered, StringComparison.Ordinal)));
    }

    [Test]
    public async Task Header_edits_with_8bit_bytes_reach_the_delivered_message_unchanged_and_the_MTAs_hidden_Received_is_counted_as_Postfix_counts_it()
    {
        // The MTA put its own Received on top and hides it, as Postfix does: index 0 goes above it, and index 1 then
        // right below the field inserted at 0, still above it (the lab's capture 10); "Received 1" is the first one the
        // milter saw.
        const string ours = "Received: from client.example.net (client.example.net [192.0.2.1])\r\n\tby mx.example.com with ESMTP id 4XyZ\r\n";
        var text = ours + "Received: from earlier.example\r\n" + Text;
        var bytes = Encoding.ASCII.GetBytes(text);
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-a", "eom=insheader:0:X-Ins0:caf\\xe9",
            "-a", "eom=insheader:1:X-Ins1:\\xc3\\xa9t\\xc3\\xa9",
            "-a", "eom=chgheader:1:Received:\\xff\\xfe replaced",
            "-a", "eom=addheader:X-Folded:a\\nb");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter)));
        var message = Message();

        var result = await host.FilterAsync(new HostMessage
        {
            Message = bytes,
            Envelope = message.Envelope,
            Client = message.Client,
            HeloName = message.HeloName,
            HiddenTraceHeader = MessageEditor.ReadFields(bytes)[0],
        });

        byte[] expected = [.. "X-Ins0: caf"u8, 0xE9, .. "\r\nX-Ins1: \u00e9t\u00e9\r\n"u8, .. Encoding.ASCII.GetBytes(ours), .. "Received: "u8, 0xFF, 0xFE,
            .. " replaced\r\n"u8, .. Encoding.ASCII.GetBytes(Text.Replace("\r\n\r\n", "\r\nX-Folded: a\r\n\tb\r\n\r\n", StringComparison.Ordinal))];
        Assert.That(result.For("bob@example.com").Message, Is.EqualTo(expected));
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Where(l => l.Event == "header" && l.Fields[0] == "Received").Select(l => l.Fields[1]), Is.EqualTo(new[] { "from earlier.example" }),
            "the milter never saw the MTA's own Received");
    }

    [Test]
    public async Task A_libmilter_reject_for_one_user_refuses_only_that_users_copy()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=reply:554:5.7.1:Virus found");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter)));

        var result = await host.FilterAsync(Message());

        Assert.That((result.For("bob@example.com").Disposition, result.For("bob@example.com").Reply), Is.EqualTo((Disposition.Reject, new SmtpReply(554, "5.7.1", "Virus found"))));
        Assert.That(result.For("carol@example.com").Disposition, Is.EqualTo(Disposition.Deliver));
    }

    [TestCase("0", "tempfail", Disposition.TempFail, "451")]
    [TestCase("0", "shutdown", Disposition.TempFail, "421")]
    [TestCase("1", "shutdown", Disposition.Deliver, null)]
    public async Task An_unreachable_milter_follows_spamfilterX_optional(string optional, string policy, Disposition disposition, string? code)
    {
        var milter = await MilterProcess.StartLibmilterAsync();
        var optionDat = OptionDat(milter, $"spamfilter1_optional={optional}\n", $"FAILURE_ACTION={policy}\n");
        await milter.DisposeAsync(); // nothing listens on its port any more
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(optionDat));

        var result = await host.FilterAsync(Message());

        var run = result.Runs.Single();
        Assert.That(result.For("bob@example.com").Disposition, Is.EqualTo(disposition));
        Assert.That(run.Verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        if (disposition == Disposition.TempFail)
        {
            // The plug-in's FAILURE_ACTION ran (its tempfail), not the host's own 451 for a slot without an action.
            // With shutdown its 421, which the MTA gives before it closes the session.
            Assert.That(result.For("bob@example.com").Reply, Is.EqualTo(new SmtpReply(int.Parse(code!, CultureInfo.InvariantCulture), "4.7.1", "Service unavailable - try again later")));
            Assert.That(run.ActionSource, Is.EqualTo(SpamFilterHost.FailureActionSource));
            Assert.That(run.Script, Does.Contain($"tempfail \"{code} 4.7.1 Service unavailable - try again later\";"));
            Assert.That(run.Outcome!.Disposition, Is.EqualTo(Host.Sieve.SieveDisposition.TempFail));
        }
        else
        {
            Assert.That((run.ActionSource, run.Effect), Is.EqualTo(((string?)null, "failure ignored (spamfilter1_optional=1)")));
        }
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_libmilter_sender_change_keeps_the_clients_BODY_and_takes_only_what_Postfix_takes(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-a", "eom=chgfrom:<changed-sender@example.org>:RET=FULL ENVID=milter-envid BODY=7BIT",
            "-a", "eom=addrcpt_par:<added@example.org>:NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig-added@example.org XFOO=bar");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter, milterOptions: $"IO_MODE={ioMode}\n")));
        var message = Message(["BODY=8BITMIME", "RET=HDRS", "ENVID=orig-envid"]);

        var result = await host.FilterAsync(message);

        var bob = result.For("bob@example.com").Envelope;
        Assert.That(bob.MailFrom, Is.EqualTo("changed-sender@example.org"));
        Assert.That(bob.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME", "RET=FULL", "ENVID=milter-envid" }), "as Postfix 3.7 relayed it in the lab (capture 10)");
        Assert.That(bob.Recipients[^1], Is.EqualTo(new EnvelopeRecipient("added@example.org", ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;orig-added@example.org"])));
        Assert.That(result.Log.Where(l => l.Contains("is ignored", StringComparison.Ordinal)).Select(l => l.Split('"')[1]), Is.EqualTo(new[] { "BODY=7BIT", "XFOO=bar" }));
        Assert.That(result.For("carol@example.com").Envelope, Is.EqualTo(message.Envelope with { Recipients = [new EnvelopeRecipient("carol@example.com")] }), "carol's copy is untouched");
    }

    [Test]
    public async Task A_libmilter_sender_change_without_arguments_keeps_every_parameter_of_the_client()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=chgfrom:<changed-sender@example.org>");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(OptionDat(milter)));
        var message = Message(["BODY=8BITMIME", "RET=HDRS", "ENVID=orig-envid"]);

        var result = await host.FilterAsync(message);

        Assert.That(result.For("bob@example.com").Envelope.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME", "RET=HDRS", "ENVID=orig-envid" }), "capture 23");
    }
}
