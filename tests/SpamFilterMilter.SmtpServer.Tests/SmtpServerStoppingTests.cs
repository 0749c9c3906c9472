using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// The server stops (its token cancelled, as on SIGTERM) while a message is in flight: the client must get a transient
/// reply and keep the message, never the permanent 554 SmtpServer would write for the cancellation.
/// </summary>
public class SmtpServerStoppingTests
{
    private const string Message = "Subject: hello\r\nFrom: a@example.org\r\n\r\nbody\r\n";

    /// <summary>A store as slow as a milter that takes its time: it holds each message until the server stops.</summary>
    private sealed class HoldingStore : IFilteredMessageStore
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<SmtpReply?> SaveAsync(ReceivedMessage message, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return null;
        }
    }

    [Test]
    public async Task A_message_held_when_the_server_stops_is_answered_421_and_logged_once_not_bounced_with_554()
    {
        var store = new HoldingStore();
        var logs = new CapturedLogs();
        var server = await FilteringServer.StartAsync(null, store, logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.org>");
        await client.SendAsync("DATA");
        var reply = client.SendMessageAsync(Message);
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await server.DisposeAsync();

        var answer = await reply.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Multiple(() =>
        {
            Assert.That(answer.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
            Assert.That(logs.Entries.Count(e => e.EventId.Id == 6013), Is.EqualTo(1), "one line for the message given up");
        });
        Assert.That(await client.IsClosedByServerAsync(), Is.True, "a 421 closes the session");
    }

    [Test]
    public async Task A_client_idle_between_messages_when_the_server_stops_is_told_421_not_221()
    {
        var server = await FilteringServer.StartAsync(null, new MemoryStore());
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");

        await server.DisposeAsync();

        var next = await client.SendAsync("RCPT TO:<b@example.org>").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(next.Code, Is.EqualTo(421), next.Text);
    }
}
