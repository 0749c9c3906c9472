using Moq;
using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// The server stops (its token cancelled, as on SIGTERM) while a message is in flight: the client must get a transient
/// reply and keep the message, never the permanent 554 SmtpServer would write for the cancellation. Before that, a drain
/// lets the messages under way finish and starts no new one.
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

    /// <summary>A store that holds each message until the test lets it go (whatever the server's token says).</summary>
    private sealed class GatedStore : IFilteredMessageStore
    {
        private int _stored;

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Stored => Volatile.Read(ref _stored);

        public async Task<SmtpReply?> SaveAsync(ReceivedMessage message, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await Release.Task;
            Interlocked.Increment(ref _stored);
            return null;
        }
    }

    private static async Task<SmtpLineClient> InMessageAsync(FilteringServer server)
    {
        var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.org>");
        return client;
    }

    /// <summary>
    /// A server storing in <paramref name="store"/>, and a client whose message the store holds (<paramref name="entered"/>
    /// completed): sent to its final dot, the reply still to come.
    /// </summary>
    private static async Task<(FilteringServer Server, SmtpLineClient Client, Task<ClientReply> Reply)> HeldAsync(
        IFilteredMessageStore store, TaskCompletionSource entered, CapturedLogs? logs = null)
    {
        var server = await FilteringServer.StartAsync(null, store, logs: logs);
        var client = await InMessageAsync(server);
        await client.SendAsync("DATA");
        var reply = client.SendMessageAsync(Message);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return (server, client, reply);
    }

    [Test]
    public async Task A_message_under_way_when_the_server_drains_is_finished_and_stored_and_only_then_is_the_drain_over()
    {
        var store = new GatedStore();
        var (server, client, reply) = await HeldAsync(store, store.Entered);
        await using var _ = client;

        Assert.That(server.MessagesInFlight, Is.EqualTo(1));
        var drain = server.DrainAsync();
        Assert.That(drain.IsCompleted, Is.False, "the drain waits for the message under way");
        store.Release.SetResult();

        var answer = await reply.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Multiple(async () =>
        {
            Assert.That(answer.Code, Is.EqualTo(250), answer.Text);
            Assert.That(store.Stored, Is.EqualTo(1));
            Assert.That(await drain.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
            Assert.That(server.MessagesInFlight, Is.Zero);
        });
        var next = await client.SendAsync("MAIL FROM:<a@example.org>").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(next.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"), "no new message once draining");
        Assert.That(await client.IsClosedByServerAsync(), Is.True, "a 421 closes the session");
        await server.DisposeAsync();
    }

    [Test]
    public async Task A_new_message_while_the_server_drains_is_answered_421_logged_once_and_never_reaches_the_filter()
    {
        var logs = new CapturedLogs();
        var filter = FilterSessionMock.ContinuingEverywhere();
        var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        Assert.That(await server.DrainAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.True, "nothing under way: drained at once");
        var noop = await client.SendAsync("NOOP");
        var mail = await client.SendAsync("MAIL FROM:<a@example.org>").WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Multiple(async () =>
        {
            Assert.That(noop.Code, Is.EqualTo(250), "a session without a message goes on until it starts one");
            Assert.That(mail.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
            Assert.That(await client.IsClosedByServerAsync(), Is.True, "a 421 closes the session");
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6016).Message, Does.Contain("MAIL answered \"421 4.3.2 Service shutting down, try again later\""));
            Assert.That(server.MessagesInFlight, Is.Zero);
        });
        filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Never);
        await server.DisposeAsync();
    }

    [Test]
    public async Task A_MAIL_the_filter_refuses_is_no_message_under_way_for_the_drain()
    {
        var filter = FilterSessionMock.ContinuingEverywhere();
        filter.Setup(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new StageDecision { Stage = FilterStage.Mail, Action = FilterAction.Reject, Reply = new SmtpReply(550, "5.7.1", "no thanks") });
        var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore());
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var mail = await client.SendAsync("MAIL FROM:<a@example.org>");

        Assert.That(mail.Text, Is.EqualTo("550 5.7.1 no thanks"));
        Assert.That(server.MessagesInFlight, Is.Zero);
        Assert.That(await server.DrainAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        await server.DisposeAsync();
    }

    [Test]
    public async Task A_client_connecting_while_the_server_drains_is_greeted_421_with_the_server_name_and_no_filter_is_opened()
    {
        var filters = 0;
        var server = await FilteringServer.StartAsync(_ =>
        {
            Interlocked.Increment(ref filters);
            return FilterSessionMock.ContinuingEverywhere().Object;
        }, new MemoryStore());
        await server.DrainAsync().WaitAsync(TimeSpan.FromSeconds(10));

        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        Assert.Multiple(async () =>
        {
            Assert.That(client.Greeting.Text, Is.EqualTo($"421 {FilteringServer.Name} Service shutting down, try again later"));
            Assert.That(await client.IsClosedByServerAsync(), Is.True);
            Assert.That(Volatile.Read(ref filters), Is.Zero);
        });
        await server.DisposeAsync();
    }

    [Test]
    public async Task A_message_given_up_by_the_client_with_RSET_no_longer_holds_the_drain()
    {
        var server = await FilteringServer.StartAsync(null, new MemoryStore());
        await using var client = await InMessageAsync(server);
        Assert.That(server.MessagesInFlight, Is.EqualTo(1), "MAIL accepted: a message is under way");
        var drain = server.DrainAsync();
        Assert.That(drain.IsCompleted, Is.False);

        var reset = await client.SendAsync("RSET"); // SmtpServer refuses EHLO within a transaction (501): only RSET ends it

        Assert.That(reset.Code, Is.EqualTo(250), reset.Text);
        Assert.That(await drain.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        await server.DisposeAsync();
    }

    [Test]
    public async Task A_client_that_leaves_in_the_middle_of_a_message_no_longer_holds_the_drain()
    {
        var server = await FilteringServer.StartAsync(null, new MemoryStore());
        var client = await InMessageAsync(server);
        Assert.That(server.MessagesInFlight, Is.EqualTo(1));
        var drain = server.DrainAsync();

        await client.DisposeAsync();

        Assert.That(await drain.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        await server.DisposeAsync();
    }

    [Test]
    public async Task A_drain_that_reaches_its_deadline_says_so_and_the_stop_then_answers_the_message_421()
    {
        var store = new HoldingStore();
        var (server, client, reply) = await HeldAsync(store, store.Entered);
        await using var _ = client;

        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var drained = await server.DrainAsync(deadline.Token).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Multiple(() =>
        {
            Assert.That(drained, Is.False);
            Assert.That(server.MessagesInFlight, Is.EqualTo(1));
        });

        await server.DisposeAsync();
        var answer = await reply.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(answer.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
    }

    [Test]
    public async Task A_message_held_when_the_server_stops_is_answered_421_and_logged_once_not_bounced_with_554()
    {
        var store = new HoldingStore();
        var logs = new CapturedLogs();
        var (server, client, reply) = await HeldAsync(store, store.Entered, logs);
        await using var _ = client;

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
    public async Task A_session_the_stop_ends_between_two_commands_is_told_421_not_closed_in_silence()
    {
        // The store finishes its message after the server stopped: SmtpServer writes the 250, then finds its token
        // cancelled before it reads the next command and ends the session without a word of its own.
        var store = new GatedStore();
        var logs = new CapturedLogs();
        var (server, client, reply) = await HeldAsync(store, store.Entered, logs);
        await using var _ = client;

        await server.CancelAsync(); // every session's token is cancelled once this returns
        store.Release.SetResult();
        var stopping = server.DisposeAsync().AsTask();

        Assert.That((await reply.WaitAsync(TimeSpan.FromSeconds(10))).Code, Is.EqualTo(250), "the message was stored: its 250 still goes out");
        var next = await client.SendAsync("NOOP").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(next.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(logs.Entries.Count(e => e.EventId.Id == 6014), Is.EqualTo(1), "said once");
    }

    [Test]
    [TestCase(false, "MAIL FROM:<a@example.org>", TestName = "{m}(between messages)")]
    [TestCase(true, "RCPT TO:<b@example.org>", TestName = "{m}(in the middle of one)")]
    public async Task A_client_idle_when_the_server_stops_is_told_421_and_the_session_closes_not_221(bool inMessage, string next)
    {
        var server = await FilteringServer.StartAsync(null, new MemoryStore());
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        if (inMessage)
        {
            await client.SendAsync("MAIL FROM:<a@example.org>");
        }

        await server.DisposeAsync();

        var reply = await client.SendAsync(next).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(reply.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True, "a 421 closes the session");
    }
}
