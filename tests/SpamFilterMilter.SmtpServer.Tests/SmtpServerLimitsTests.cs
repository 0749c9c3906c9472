using System.Text;
using Moq;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// What SmtpServer 11.1.0 itself does where Postfix does otherwise, as docs/smtpserver.md lists it. Each test proves one
/// line of that list, so a new SmtpServer that changes it fails here and the page gets updated.
/// </summary>
public class SmtpServerLimitsTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    [Test]
    public async Task EHLO_announces_PIPELINING_8BITMIME_and_SMTPUTF8_only_no_DSN()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        var ehlo = await client.SendAsync("EHLO client.example");

        Assert.That(ehlo.Lines.Skip(1).Select(line => line[4..]), Is.EqualTo(new[] { "PIPELINING", "8BITMIME", "SMTPUTF8" }));
    }

    [Test]
    public async Task A_lone_dot_right_after_DATA_does_not_end_the_message_so_an_empty_message_cannot_be_sent()
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");

        // An empty message (the final dot at once), then QUIT: SmtpServer reads on, and takes it all as the message
        // when a later final dot comes.
        var end = await client.SendRawAsync(".\r\nQUIT\r\n.\r\n");

        Assert.That(end.Code, Is.EqualTo(250));
        Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Is.EqualTo(".\r\nQUIT\r\n"));
    }

    [Test]
    public async Task The_doubled_dot_of_the_first_line_is_kept()
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        await client.SendMailAsync("a@example.org", ["b@example.com"], ".first line\r\n.second line\r\n");

        Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Is.EqualTo("..first line\r\n.second line\r\n"));
    }

    [Test]
    public async Task Commands_out_of_order_get_Postfixs_replies_and_the_filter_hears_nothing_of_them()
    {
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore());
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        var rcptBeforeHelo = await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("EHLO client.example");
        var rcptWithoutMail = await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        var nestedMail = await client.SendAsync("MAIL FROM:<c@example.org>");

        Assert.Multiple(() =>
        {
            // (A MAIL before HELO and an EHLO inside a transaction are taken, as Postfix takes them: HeloOrderTests.)
            Assert.That(rcptBeforeHelo.Text, Is.EqualTo("503 5.5.1 Error: need MAIL command"));
            Assert.That(rcptWithoutMail.Text, Is.EqualTo("503 5.5.1 Error: need MAIL command"));
            Assert.That(nestedMail.Text, Is.EqualTo("503 5.5.1 Error: nested MAIL command"));
        });
        filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
        filter.Verify(f => f.HeloAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Once);
    }
}
