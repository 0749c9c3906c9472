using System.Text;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// End to end with real programs on both sides: swaks, the SMTP client, talks to SmtpServer with the integration, whose
/// sessions go through the plug-in (loaded by path) to a real milter: the libmilter test milter (a refused recipient,
/// a 421, edits) and opendkim, whose signature is verified on the message the application's store got.
/// </summary>
[Category("Integration")]
public class MilterEndToEndTests : TempFolderTest
{
    private const string Message =
        "From: Alice <alice@example.com>\r\n" +
        "To: Bob <bob@example.org>\r\n" +
        "Subject: caf\u00e9 through SmtpServer\r\n" +
        "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n" +
        "Message-ID: <smtpserver-test@example.com>\r\n" +
        "\r\n" +
        "Hello Bob,\r\n" +
        ".a line with a dot\r\n" +
        "8-bit: caf\u00e9\r\n";

    private async Task<(FilteringServer Server, MemoryStore Store, ISpamFilterPlugin Plugin)> StartAsync(MilterProcess milter)
    {
        var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));
        var store = new MemoryStore();
        return (await FilteringServer.StartAsync(_ => plugin.OpenSession(), store), store, plugin);
    }

    /// <summary>The message for swaks, which ends the last line itself (it sends CRLF, dot, CRLF after the file).</summary>
    private string MessageFile() => Folder.Write("message.eml", Message[..^2]);

    [Test]
    public async Task A_recipient_the_milter_refuses_gets_its_reply_and_the_others_get_the_message_with_the_milters_edits()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-a", "rcpt/bad@=reply:550:5.1.1:<bad@example.org>: no such user here",
            "-a", "eom=addheader:X-Milter:seen by libmilter",
            "-a", "eom=chgfrom:<bounces@example.com>");
        var (server, store, plugin) = await StartAsync(milter);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org", "bad@example.org", "carol@example.org"], MessageFile());

            Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
            Assert.That(swaks.Replies, Does.Contain("550 5.1.1 <bad@example.org>: no such user here"), swaks.ToString());
            var received = store.Messages.Single();
            var text = Encoding.UTF8.GetString(received.Filtered.Message);
            Assert.Multiple(() =>
            {
                Assert.That(received.Filtered.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.org", "carol@example.org" }));
                Assert.That(received.Filtered.Envelope.MailFrom, Is.EqualTo("bounces@example.com"));
                Assert.That(text, Does.StartWith("Received: from client.example (localhost [127.0.0.1])\r\n"), "the client's name looked up, as Postfix looks it up");
                Assert.That(text, Does.Contain("Message-ID: <smtpserver-test@example.com>\r\nX-Milter: seen by libmilter\r\n\r\n"));
                Assert.That(text, Does.EndWith("\r\nHello Bob,\r\n.a line with a dot\r\n8-bit: caf\u00e9\r\n"));
                Assert.That(milter.Transcript().Where(l => l.Event == "macro" && l.Fields[0] == "connect" && l.Fields[1] == "_").Select(l => l.Fields[2]),
                    Is.EqualTo(new[] { "localhost [127.0.0.1]" }), "the milter is told the name, as Postfix tells it");
            });
        }
    }

    [Test]
    public async Task An_unknown_command_reaches_the_milters_UNKNOWN_stage_as_its_first_word_and_the_milters_refusal_is_the_reply()
    {
        // Postfix 3.7 gives its milters an unknown command's first word (seen live: "XYZZY" for "XYZZY foo  bar") and answers
        // their refusal, else 500 5.5.2.
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "unknown/ZAP=reply:550:5.7.1:no zapping");
        var (server, _, plugin) = await StartAsync(milter);
        await using (plugin)
        await using (server)
        {
            await using var client = await SmtpLineClient.ConnectAsync(server.Port);
            await client.SendAsync("EHLO client.example");

            var unknown = await client.SendAsync("XYZZY foo  bar");
            var refused = await client.SendAsync("  ZAP it");
            await client.SendAsync("QUIT");

            Assert.Multiple(() =>
            {
                Assert.That(unknown.Text, Is.EqualTo("500 5.5.2 Error: command not recognized"));
                Assert.That(refused.Text, Is.EqualTo("550 5.7.1 no zapping"));
                Assert.That(milter.Transcript().Where(l => l.Event == "unknown").Select(l => l.Fields[0]), Is.EqualTo(new[] { "XYZZY", "ZAP" }));
            });
        }
    }

    [Test]
    [Category("Postfix")]
    [NonParallelizable]
    public async Task A_MAIL_before_HELO_and_an_EHLO_inside_a_transaction_reach_the_milter_as_they_do_under_Postfix()
    {
        // Postfix 3.7 takes both (without smtpd_helo_required, its default): its milter hears no HELO before the MAIL, and
        // of the EHLO inside the transaction an abort, then the HELO. Both MTAs talk to one libmilter milter in turn.
        await using var milter = await MilterProcess.StartLibmilterAsync();
        string[] lines = ["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>", "EHLO second.example", "MAIL FROM:<c@example.org>",
            "RCPT TO:<d@example.com>", "HELO third.example", "MAIL FROM:<e@example.org>", "QUIT"];
        async Task<(int[] Codes, string[] Events)> RunAsync(int port)
        {
            var before = milter.Transcript().Count;
            var codes = new List<int>();
            await using (var client = await SmtpLineClient.ConnectAsync(port))
            {
                foreach (var line in lines)
                {
                    codes.Add((await client.SendAsync(line)).Code);
                }
            }

            var transcript = await milter.TranscriptAfterAsync("close", milter.Transcript().Take(before).Count(l => l.Event == "close") + 1);
            return ([.. codes], [.. transcript.Skip(before).Where(l => l.Event is not ("macro" or "negotiate" or "connect")).Select(l => string.Join(" ", [l.Event, .. l.Fields]))]);
        }

        (int[] Codes, string[] Events) postfix;
        await using (var instance = await PostfixInstance.StartAsync($"inet:127.0.0.1:{milter.Port}"))
        {
            postfix = await RunAsync(instance.SmtpPort);
        }

        var (server, _, plugin) = await StartAsync(milter);
        await using (plugin)
        await using (server)
        {
            var ours = await RunAsync(server.Port);

            Assert.Multiple(() =>
            {
                Assert.That(postfix.Codes, Is.EqualTo(new[] { 250, 250, 250, 250, 250, 250, 250, 221 }), "Postfix takes every line");
                Assert.That(postfix.Events, Is.EqualTo(new[] { "mail <a@example.org>", "rcpt <b@example.com>", "abort", "helo second.example",
                    "mail <c@example.org>", "rcpt <d@example.com>", "abort", "helo third.example", "mail <e@example.org>", "abort", "close" }));
                Assert.That(ours.Codes, Is.EqualTo(postfix.Codes));
                Assert.That(ours.Events, Is.EqualTo(postfix.Events));
            });
        }
    }

    [Test]
    public async Task A_421_from_the_milter_is_given_to_the_client_and_the_session_ends()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "rcpt/closing@=reply:421:4.7.0:closing for now");
        var (server, store, plugin) = await StartAsync(milter);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["closing@example.org", "bob@example.org"], MessageFile());

            Assert.That(swaks.Replies, Does.Contain("421 4.7.0 closing for now"), swaks.ToString());
            Assert.That(swaks.Replies[^1], Is.EqualTo("421 4.7.0 closing for now"), "nothing is answered after the 421: " + swaks);
            Assert.That(swaks.Output, Does.Contain("Remote host closed connection"), swaks.ToString());
            Assert.That(store.Messages, Is.Empty);
        }
    }

    [Test]
    public async Task A_milter_that_rejects_the_connection_gets_the_client_a_554_greeting_and_its_reply_at_MAIL()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "connect=reply:550:5.7.1:not from you");
        var (server, store, plugin) = await StartAsync(milter);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org"], MessageFile());

            Assert.That(swaks.ExitCode, Is.EqualTo(21), swaks.ToString());
            Assert.That(swaks.Replies[0], Is.EqualTo("554 mx.example.com ESMTP not accepting connections"), swaks.ToString());
            Assert.That(store.Messages, Is.Empty);
        }
    }

    [Test]
    public async Task opendkims_signature_verifies_on_the_message_the_store_got()
    {
        await using var opendkim = await MilterProcess.StartOpenDkimAsync();
        var (server, store, plugin) = await StartAsync(opendkim);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org"], MessageFile());

            Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
            var received = store.Messages.Single();
            Assert.That(received.Filtered.Disposition, Is.EqualTo(Disposition.Deliver));
            var text = Encoding.UTF8.GetString(received.Filtered.Message);
            Assert.That(text, Does.StartWith("DKIM-Signature: v=1; a=rsa-sha256;"), "opendkim inserts at 0: above the trace field, as at Postfix");
            Assert.That(await DkimVerifier.VerifyAsync(received.Filtered.Message, opendkim.WorkFolder), Is.EqualTo("pass"));
        }
    }
}
