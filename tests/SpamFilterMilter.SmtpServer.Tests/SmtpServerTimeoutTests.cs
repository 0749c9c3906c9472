using System.Text;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// A client that sends nothing for too long is told it timed out, as Postfix's smtpd_timeout tells it, and never that
/// the server shuts down; a slow client that keeps sending is read to its end, however long it takes.
/// </summary>
public class SmtpServerTimeoutTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(700);

    private const string Timeout = "421 4.4.2 mx.example.com Error: timeout exceeded";

    [Test]
    public async Task An_idle_client_is_answered_421_timeout_exceeded_as_Postfix_answers_it_and_closed()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), logs: logs, readTimeout: Short);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var reply = await client.ReadReplyAsync();
        var closed = await client.IsClosedByServerAsync();

        Assert.Multiple(() =>
        {
            Assert.That(reply?.Text, Is.EqualTo(Timeout));
            Assert.That(closed, Is.True);
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6030).Message, Does.Contain("timeout after EHLO (no input for 0.7 s)"));
            Assert.That(logs.Entries.Any(e => e.EventId.Id is 6013 or 6014), Is.False, "nothing says the server stops");
        });
    }

    [Test]
    public async Task A_message_that_keeps_coming_is_read_to_its_end_however_much_longer_than_the_read_timeout_it_takes()
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, readTimeout: Short);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");

        await client.SendWithoutReadingAsync("Subject: slow\r\n\r\n");
        for (var i = 0; i < 8; i++) // 8 x 300 ms: over three times the read timeout, each pause well within it
        {
            await Task.Delay(300);
            await client.SendWithoutReadingAsync($"line {i}\r\n");
        }

        var end = await client.SendRawAsync(".\r\n");

        Assert.That(end.Code, Is.EqualTo(250));
        Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Does.EndWith("line 7\r\n"));
    }

    [Test]
    public async Task A_client_silent_in_the_middle_of_its_message_gets_the_timeout_alone_and_nothing_is_stored()
    {
        var store = new MemoryStore();
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(null, store, logs: logs, readTimeout: Short);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");

        var reply = await client.SendRawAsync("Subject: half\r\n\r\nhalf a body\r\n");
        var (more, closed) = await client.ReadUntilClosedAsync(TimeSpan.FromSeconds(10));

        Assert.Multiple(() =>
        {
            Assert.That(reply.Text, Is.EqualTo(Timeout));
            Assert.That((more, closed), Is.EqualTo((0, true)), "no 554 of SmtpServer's after it");
            Assert.That(store.Messages, Is.Empty);
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6030).Message, Does.Contain("timeout after DATA"));
            Assert.That(server.MessagesInFlight, Is.Zero);
        });
    }

    [Test]
    public async Task A_session_past_SmtpServers_SessionTimeout_is_answered_as_a_timeout_not_as_the_server_shutting_down()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), logs: logs, sessionTimeout: TimeSpan.FromSeconds(1));
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");

        // In the middle of a message, as the 6 MB one at 40 KB/s was when SmtpServer's 2 minutes ran out.
        await client.SendWithoutReadingAsync("Subject: long\r\n\r\nthe first lines\r\n");
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var reply = await client.ReadReplyAsync(bound.Token);

        Assert.Multiple(() =>
        {
            Assert.That(reply?.Text, Is.EqualTo(Timeout));
            Assert.That(logs.Entries.Any(e => e.EventId.Id == 6030), Is.True);
            Assert.That(logs.Entries.Any(e => e.EventId.Id is 6013 or 6014), Is.False, "nothing says the server stops");
        });
    }
}
