namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// A milter that negotiated an NR_* step (no reply to that command) and answers anyway would shift every later
/// reply onto the wrong command: its "continue" to a header could become the answer to the end of the message,
/// and its real end-of-message REJECT be lost. A reply is never taken as the answer to a later command: bytes
/// nobody asked for are caught before the next command that expects an answer is written, and at the end of the
/// message, and the message gets the failure outcome. (A stray reply still in flight when the next command goes out
/// cannot be told from its answer by any client: docs/misbehaving-milters.md.)
/// </summary>
[Category("Integration")]
[TestFixture("async")]
[TestFixture("blocking")]
public class NoReplyLiarTests(string io) : TempFolderTest
{
    private const uint NoReplyMail = 0x4000;   // SMFIP_NR_MAIL
    private const uint NoReplyHeader = 0x80;   // SMFIP_NR_HDR
    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25, "client.example.net");

    [Test]
    public async Task A_late_reply_to_an_unanswered_MAIL_is_caught_before_DATA_and_the_message_fails()
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\n"));
        await using var session = plugin.OpenSession();
        var connect = SessionPair.Run(() => session.ConnectAsync(Client)); // blocking mode waits on this thread
        await using var milter = await listener.AcceptAsync();
        await milter.ExpectAsync('O');
        await milter.SendAsync(Raw.OptNeg(6, 0x1FF, NoReplyMail));
        await milter.ExpectAsync('C');
        await milter.SendAsync(Raw.Packet('c'));
        Assert.That((await connect).Failure, Is.Null);

        Assert.That((await session.MailAsync("alice@example.org")).Failure, Is.Null); // no reply: the packet waits for the next write
        var rcpt = SessionPair.Run(() => session.RcptAsync("bob@example.com"));      // MAIL and RCPT go out together
        await milter.ExpectAsync('M');
        await milter.SendAsync(Raw.Packet('c'));          // the lie: an answer to MAIL, at once
        await milter.ExpectAsync('R');
        await Task.Delay(50);
        await milter.SendAsync(Raw.Packet('r'));          // the real answer to RCPT, a little later
        Assert.That((await rcpt).Failure, Is.Null, "the lie came first and alone: it cannot be told from RCPT's answer yet");
        await Task.Delay(100);                             // the SMTP client's next command takes a round trip

        var data = await session.DataAsync();              // the late answer is waiting: it would have become DATA's

        Assert.That(data.Failure, Is.Not.Null, "caught before DATA was written");
        Assert.That((data.Failure!.Stage, data.Failure.Cause), Is.EqualTo(((FilterStage?)FilterStage.Data, "SMFIC_DATA reply: the milter sent 5 bytes nobody asked for (a reply to a command that takes none?)")));
        Assert.That((await session.EndOfMessageAsync()).Kind, Is.EqualTo(VerdictKind.Failure), "the message gets the failure outcome, never a shifted verdict");
    }

    [Test]
    public async Task A_milter_that_answers_unanswered_headers_never_gets_its_shifted_continue_taken_as_its_verdict()
    {
        using var listener = new ScriptedMilterListener();
        // The headers go out with the end of headers (NR_HDR), and the milter answers all four in one write: three
        // answers nobody asked for, then the real one. Written together, they arrive together, whatever the load.
        var milter = MilterScripts.RunAsync(listener, p => p.Code switch
        {
            'L' => [],
            'N' => [Raw.Packet('c'), Raw.Packet('c'), Raw.Packet('c'), Raw.Packet('c')],
            'E' => [Raw.Packet('y', Raw.CString("554 5.7.1 spam"))],
            _ => null,
        }, Raw.OptNeg(6, 0x1FF, NoReplyHeader));
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\n"));

        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = Client,
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient("bob@example.com")],
            Message = new MemoryStream("Subject: one\r\nX-Two: two\r\nX-Three: three\r\n\r\nbody\r\n"u8.ToArray()),
        });
        await milter;

        Assert.That(verdict.Action, Is.Not.EqualTo(FilterAction.Accept), "the milter's REJECT at the end of the message must not become an accept");
        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure), verdict.Text);
    }
}
