namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// The state bugs Postfix fixed in its milter client in 2026, proven absent here: a message after an accepted one
/// that the host refused is still filtered; a connection lost during a body replacement never leaves the original
/// body standing as if replaced; a malformed multi-line reply and a shutdown reply leave nothing stale behind.
/// </summary>
[Category("Integration")]
[TestFixture("async")]
[TestFixture("blocking")]
public class PostfixRegressionTests(string io) : TempFolderTest
{
    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net");

    /// <summary>One message as an SMTP server drives it; <paramref name="hostRefusesAtEnd"/>: the host refuses it after DATA, on its own grounds.</summary>
    private static async Task<FilterVerdict?> MessageAsync(IFilterSession session, string from, bool hostRefusesAtEnd = false)
    {
        await session.MailAsync(from);
        await session.RcptAsync("bob@example.com");
        await session.DataAsync();
        await session.HeaderAsync("Subject", " " + from);
        await session.EndOfHeadersAsync();
        await session.BodyAsync(Encoding.ASCII.GetBytes("hello\r\n"));
        if (hostRefusesAtEnd)
        {
            await session.AbortAsync(); // the host's 554 after the final dot: the transaction ends without the milter's verdict
            return null;
        }

        return await session.EndOfMessageAsync();
    }

    [TestCase("mail")]
    [TestCase("eom")]
    public async Task After_a_milter_ACCEPT_and_a_host_side_refusal_at_the_end_of_data_the_next_message_is_still_filtered(string acceptedAt)
    {
        // The milter accepts the first message (at MAIL, from its sender; or every message at its end) and marks every
        // message it sees to its end; the host refuses the first one itself, after the data.
        await using var milter = acceptedAt == "mail"
            ? await MilterProcess.StartLibmilterAsync("-a", "mail/first@=accept", "-a", "eom=addheader:X-Filtered:yes")
            : await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Filtered:yes", "-a", "eom=accept");
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, $"IO_MODE={io}\n"));
        await using var session = plugin.OpenSession();
        await session.ConnectAsync(Client);
        await session.HeloAsync("client.example.net");

        var first = await MessageAsync(session, "<first@example.org>", hostRefusesAtEnd: acceptedAt == "mail");
        Assert.That(first?.Action ?? FilterAction.Accept, Is.EqualTo(FilterAction.Accept), "the milter accepted it; the host refuses it on its own");
        var second = await MessageAsync(session, "<second@example.org>");

        Assert.That(second!.Failure, Is.Null);
        Assert.That(second.Edits, Is.EqualTo(new[] { new AddHeader("X-Filtered", " yes") }), "the second message went through the milter to its end");
        var transcript = await milter.TranscriptAfterAsync("eom", acceptedAt == "mail" ? 1 : 2);
        Assert.That(transcript.Where(l => l.Event == "rcpt").Count(), Is.EqualTo(acceptedAt == "mail" ? 1 : 2), "the milter saw the second message's recipient");
        Assert.That(transcript.Count(l => l.Event == "eom"), Is.EqualTo(acceptedAt == "mail" ? 1 : 2));
    }

    [Test]
    public async Task A_connection_lost_during_a_body_replacement_never_passes_the_message_as_replaced_or_unchanged()
    {
        using var listener = new ScriptedMilterListener();
        var milter = Task.Run(async () =>
        {
            await using var m = await listener.AcceptAsync();
            await m.ExpectAsync('O');
            await m.SendAsync(Raw.OptNeg(6, 0x1FF, 0));
            while ((await m.ReadSkippingMacrosAsync()).Packet.Code is var code && code != 'E')
            {
                if (code != 'A')
                {
                    await m.SendAsync(Raw.Packet('c'));
                }
            }

            await m.SendAsync(Raw.Packet('b', Encoding.ASCII.GetBytes("the first half of a new body\r\n"))); // then the milter dies
            m.Close();
        });
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\n"));

        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = Client, MailFrom = "alice@example.org", Recipients = [new EnvelopeRecipient("bob@example.com")],
            Message = new MemoryStream("Subject: s\r\n\r\nthe original body\r\n"u8.ToArray()),
        });
        await milter;

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure), "neither the half body nor the original goes on as the milter's verdict");
        Assert.That((verdict.Edits, verdict.Action), Is.EqualTo((Array.Empty<MessageEdit>(), FilterAction.TempFail)));
        Assert.That(verdict.Failure!.Cause, Does.Contain("closed the connection"));
    }

    [Test]
    public async Task A_malformed_multi_line_reply_breaks_the_session_and_nothing_after_it_is_read()
    {
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, p => p.Code == 'M'
            ? [Raw.Packet('y', Raw.CString("550-5.7.1 first line\r\n451 4.7.1 another code")), Raw.Packet('c'), Raw.Packet('c')]
            : null);
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\n"));
        await using var session = plugin.OpenSession();
        await session.ConnectAsync(Client);

        var atMail = await session.MailAsync("alice@example.org");
        var atRcpt = await session.RcptAsync("bob@example.com");

        Assert.That(atMail.Failure!.Cause, Is.EqualTo("SMFIC_MAIL reply: SMFIR_REPLYCODE: malformed SMTP reply: line 2 has code 451, the first line 550"));
        Assert.That(atRcpt.Failure, Is.SameAs(atMail.Failure), "the same failure, answered without reading the CONTINUEs that followed");
        await session.CloseAsync();
        var received = await milter;
        Assert.That(received.Select(p => p.Code), Has.No.Member('R'), "nothing was sent after the failure");
    }

    [Test]
    public async Task A_shutdown_reply_closes_the_session_and_later_calls_answer_421_without_reading()
    {
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, p => p.Code == 'R' ? [Raw.Packet('4')] : null);
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\n"));
        await using var session = plugin.OpenSession();
        await session.ConnectAsync(Client);
        await session.MailAsync("alice@example.org");

        var atRcpt = await session.RcptAsync("bob@example.com");
        var atNextRcpt = await session.RcptAsync("carol@example.com");
        var atData = await session.DataAsync();

        Assert.That((atRcpt.Reply?.Code, atRcpt.ClosesSession, atRcpt.Scope), Is.EqualTo(((int?)421, true, DecisionScope.Session)));
        Assert.That((atNextRcpt.Reply, atData.Reply), Is.EqualTo((atRcpt.Reply, atRcpt.Reply)), "every later call gets the 421");
        await session.CloseAsync();
        var received = await milter;
        Assert.That(received.Count(p => p.Code == 'R'), Is.EqualTo(1), "nothing more was sent to the milter after SHUTDOWN");
        Assert.That(received.Select(p => p.Code), Has.No.Member('T'));
    }
}
