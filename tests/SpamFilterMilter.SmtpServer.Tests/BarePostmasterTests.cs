using System.Text;
using Moq;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// <c>RCPT TO:&lt;postmaster&gt;</c> without a domain, which RFC 5321 §4.5.1 has every server accept: Postfix accepts it
/// in any letter case before its recipient restrictions (smtpd_check_rcpt), and its milter hears the path as the client
/// wrote it. Checked against Postfix 3.7 with <c>relay_domains = example.com</c> and the client outside <c>mynetworks</c>:
/// <c>250 2.1.5 Ok</c> for <c>&lt;postmaster&gt;</c> and <c>&lt;PostMaster&gt;</c>, its milter told <c>&lt;postmaster&gt;</c>
/// and <c>&lt;PostMaster&gt;</c>, while <c>&lt;b@other.org&gt;</c> got <c>554 5.7.1 &lt;b@other.org&gt;: Relay access denied</c>.
/// </summary>
public class BarePostmasterTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    /// <summary>The recipients of the one message stored, as its envelope has them.</summary>
    private static IEnumerable<string> StoredRecipients(MemoryStore store) => store.Messages.Single().Filtered.Envelope.Recipients.Select(r => r.Address);

    [Test]
    public async Task RCPT_TO_postmaster_without_a_domain_is_accepted_from_an_untrusted_client_in_any_letter_case_and_the_filter_and_the_store_get_it_as_written()
    {
        await using var session = await RelayingSession.StartAsync();
        var (filter, store, client) = (session.Filter, session.Store, session.Client);

        var lower = await client.SendAsync("RCPT TO:<postmaster>");
        var mixed = await client.SendAsync("RCPT TO: <PostMaster> NOTIFY=NEVER");
        var elsewhere = await client.SendAsync("RCPT TO:<b@other.org>");
        await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That((lower.Code, mixed.Code, end.Code), Is.EqualTo((250, 250, 250)), "Postfix: 250 2.1.5 Ok, for both");
            Assert.That(elsewhere.Text, Is.EqualTo("554 5.7.1 <b@other.org>: Relay access denied"), "the relay restriction still holds for every other recipient");
            filter.Verify(f => f.RcptAsync("<postmaster>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.RcptAsync("<PostMaster>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Exactly(2));
            Assert.That(StoredRecipients(store), Is.EqualTo(new[] { "postmaster", "PostMaster" }));
        });
    }

    [Test]
    public async Task A_bare_postmaster_that_comes_in_pieces_and_pipelined_with_the_commands_after_it_is_one_recipient()
    {
        await using var session = await RelayingSession.StartAsync();
        var (filter, store, client) = (session.Filter, session.Store, session.Client);

        await client.SendWithoutReadingAsync("RCPT TO:<post");
        await Task.Delay(200); // the server reads the first piece alone
        await client.SendWithoutReadingAsync("master>\r");
        await Task.Delay(200);
        await client.SendWithoutReadingAsync("\nRCPT TO:<c@example.com>\r\nDATA\r\n");
        var replies = new[] { await client.ReadReplyAsync(), await client.ReadReplyAsync(), await client.ReadReplyAsync() };
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?.Code), Is.EqualTo(new int?[] { 250, 250, 354 }));
            Assert.That(end.Code, Is.EqualTo(250));
            Assert.That(StoredRecipients(store), Is.EqualTo(new[] { "postmaster", "c@example.com" }));
        });
    }

    [Test]
    public async Task A_bare_postmaster_and_an_EHLO_address_literal_pipelined_behind_other_commands_in_one_write_are_each_read_as_their_own_line()
    {
        // SmtpServer parses one line per read of the pipe: the line noted for each command must be that command's own,
        // not the first line of the write it came in.
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await RelayingSession.StartServerAsync(filter, store);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        await client.SendWithoutReadingAsync("NOOP\r\nEHLO [192.0.2.1]\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster>\r\nRCPT TO:<b@other.org>\r\nDATA\r\n");
        var replies = new List<int?>();
        for (var i = 0; i < 6; i++)
        {
            replies.Add((await client.ReadReplyAsync())?.Code);
        }

        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies, Is.EqualTo(new int?[] { 250, 250, 250, 250, 554, 354 }));
            Assert.That(end.Code, Is.EqualTo(250));
            filter.Verify(f => f.HeloAsync("[192.0.2.1]", It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.RcptAsync("<postmaster>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
            Assert.That(StoredRecipients(store), Is.EqualTo(new[] { "postmaster" }));
        });
    }

    [TestCase(0, TestName = "A message line that reads RCPT TO:<postmaster> is stored as it came (SmtpServer reads the message)")]
    [TestCase(1_000_000, TestName = "A message line that reads RCPT TO:<postmaster> is stored as it came (the size gate reads the message: the control)")]
    public async Task A_message_line_that_reads_RCPT_TO_postmaster_is_stored_as_it_came(int maxMessageSize)
    {
        await using var session = await RelayingSession.StartAsync(maxMessageSize: maxMessageSize);
        var (store, client) = (session.Store, session.Client);
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");

        // The message's first line comes at the start of a read, where a command would. (A stand-in given SmtpServer in the
        // middle of a message would not end it: the pipe then ends the session, and the bound keeps the client from waiting
        // on. With the size gate the message never reaches the command reader: that case is the control.)
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var end = await client.SendMessageAsync(Encoding.ASCII.GetBytes("RCPT TO:<postmaster>\r\n\r\nRCPT TO:<postmaster>\r\n"), bound.Token);

        Assert.That(end.Code, Is.EqualTo(250));
        Assert.That(Encoding.ASCII.GetString(store.Messages.Single().Filtered.Message), Is.EqualTo("RCPT TO:<postmaster>\r\n\r\nRCPT TO:<postmaster>\r\n"));
    }

    [Test]
    public async Task A_bare_postmaster_out_of_order_gets_Postfixs_503_and_a_recipient_after_it_is_checked_as_any_other()
    {
        await using var session = await RelayingSession.StartAsync(mail: false);
        var (filter, client) = (session.Filter, session.Client);

        var beforeMail = await client.SendAsync("RCPT TO:<postmaster>");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        // The domain the integration gives a bare postmaster for SmtpServer's parser, written by the client: an address
        // like any other, outside the relay domains.
        var written = await client.SendAsync("RCPT TO:<postmaster@postmaster.invalid>");

        Assert.Multiple(() =>
        {
            Assert.That(beforeMail.Text, Is.EqualTo("503 5.5.1 Error: need MAIL command"), "as any RCPT before MAIL");
            Assert.That(written.Text, Is.EqualTo("554 5.7.1 <postmaster@postmaster.invalid>: Relay access denied"));
        });
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
    }
}
