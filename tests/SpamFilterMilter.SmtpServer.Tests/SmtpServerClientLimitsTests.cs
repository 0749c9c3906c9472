using System.Diagnostics;
using Moq;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// What one client may take of a session, as Postfix's smtpd limits it: recipients per message
/// (<c>smtpd_recipient_limit</c>) and errors (<c>smtpd_hard_error_limit</c>, <c>smtpd_soft_error_limit</c> with
/// <c>smtpd_error_sleep_time</c>, <c>smtpd_junk_command_limit</c>), with Postfix's replies.
/// </summary>
public class SmtpServerClientLimitsTests
{
    private const string TooManyErrors = "421 4.7.0 mx.example.com Error: too many errors";

    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    private static async Task<SmtpLineClient> InTransactionAsync(FilteringServer server)
    {
        var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        return client;
    }

    [Test]
    public async Task A_recipient_past_the_limit_is_answered_452_as_Postfix_answers_it_and_never_reaches_the_filter()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, maxRecipients: 3);
        await using var client = await InTransactionAsync(server);

        var replies = new List<ClientReply>();
        for (var i = 1; i <= 5; i++)
        {
            replies.Add(await client.SendAsync($"RCPT TO:<r{i}@example.com>"));
        }

        await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        var nextMessage = await client.SendAsync("RCPT TO:<r6@example.com>");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 452, 452 }));
            Assert.That(replies[3].Text, Is.EqualTo("452 4.5.3 Error: too many recipients"));
            Assert.That(end.Code, Is.EqualTo(250), "the message goes to the recipients accepted");
            Assert.That(store.Messages.Single().Filtered.Envelope.Recipients, Has.Count.EqualTo(3));
            Assert.That(nextMessage.Code, Is.EqualTo(250), "the limit is per message");
        });
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Exactly(4));
    }

    [Test]
    public async Task Recipients_past_the_limit_are_not_errors_so_they_do_not_end_the_session()
    {
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), maxRecipients: 1, hardErrorLimit: 3, softErrorLimit: 0);
        await using var client = await InTransactionAsync(server);
        await client.SendAsync("RCPT TO:<r0@example.com>");

        var over = new List<int>();
        for (var i = 1; i <= 6; i++)
        {
            over.Add((await client.SendAsync($"RCPT TO:<r{i}@example.com>")).Code);
        }

        Assert.That(over, Is.All.EqualTo(452));
        Assert.That((await client.SendAsync("NOOP")).Code, Is.EqualTo(250), "still open");
    }

    [Test]
    public async Task The_twentieth_error_is_followed_by_421_too_many_errors_and_the_close_as_at_Postfix_whatever_came_between()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), logs: logs, errorSleepTime: TimeSpan.Zero);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        for (var i = 1; i < 20; i++)
        {
            Assert.That((await client.SendAsync("BOGUS")).Code, Is.EqualTo(500));
            Assert.That((await client.SendAsync("NOOP")).Code, Is.EqualTo(250), "a NOOP between does not wipe the count");
        }

        var twentieth = await client.SendAsync("BOGUS");
        var last = await client.ReadReplyAsync();
        var closed = await client.IsClosedByServerAsync();

        Assert.Multiple(() =>
        {
            Assert.That(twentieth.Code, Is.EqualTo(500));
            Assert.That(last?.Text, Is.EqualTo(TooManyErrors));
            Assert.That(closed, Is.True);
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6031).Message, Does.EndWith(": too many errors from 127.0.0.1 (20, the last after UNKNOWN); answered 421 4.7.0 and closed"));
        });
    }

    [Test]
    public async Task Refused_recipients_count_as_errors_and_a_message_accepted_forgives_them()
    {
        var filter = Filter();
        filter.Setup(f => f.RcptAsync("<nobody@example.com>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new StageDecision { Stage = FilterStage.Rcpt, Action = FilterAction.Reject, Reply = new SmtpReply(550, "5.1.1", "no such user") });
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), hardErrorLimit: 3, errorSleepTime: TimeSpan.Zero);
        await using var client = await InTransactionAsync(server);

        var first = new[] { await client.SendAsync("RCPT TO:<nobody@example.com>"), await client.SendAsync("RCPT TO:<nobody@example.com>") };
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");
        var accepted = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        var after = new[] { await client.SendAsync("RCPT TO:<nobody@example.com>"), await client.SendAsync("RCPT TO:<nobody@example.com>") };
        var third = await client.SendAsync("RCPT TO:<nobody@example.com>");
        var last = await client.ReadReplyAsync();

        Assert.Multiple(() =>
        {
            Assert.That(first.Concat(after).Select(r => r.Code), Is.All.EqualTo(550));
            Assert.That(accepted.Code, Is.EqualTo(250));
            Assert.That(third.Code, Is.EqualTo(550), "the third error since the message");
            Assert.That(last?.Text, Is.EqualTo(TooManyErrors));
        });
    }

    [Test]
    public async Task Past_the_soft_limit_each_reply_waits_the_error_sleep_time_as_Postfix_slows_such_a_client()
    {
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), softErrorLimit: 2, errorSleepTime: TimeSpan.FromMilliseconds(400));
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var clock = Stopwatch.StartNew();
        await client.SendAsync("BOGUS");
        await client.SendAsync("NOOP");
        var beforeLimit = clock.Elapsed;
        await client.SendAsync("BOGUS");
        clock.Restart();
        var noop = await client.SendAsync("NOOP");
        var pastLimit = clock.Elapsed;

        Assert.Multiple(() =>
        {
            Assert.That(beforeLimit, Is.LessThan(TimeSpan.FromMilliseconds(400)));
            Assert.That(pastLimit, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(380)), "even a NOOP's reply waits");
            Assert.That(noop.Code, Is.EqualTo(250));
        });
    }

    [Test]
    public async Task NOOPs_past_the_junk_command_limit_count_as_errors_so_an_idler_is_ended_too()
    {
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), hardErrorLimit: 2, errorSleepTime: TimeSpan.Zero);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example"); // the first junk command: HELO and EHLO count, as at Postfix

        var codes = new List<int>();
        for (var i = 1; i <= 102; i++)
        {
            codes.Add((await client.SendAsync("NOOP")).Code);
        }

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var last = await client.ReadReplyAsync(bound.Token);

        Assert.That(codes, Is.All.EqualTo(250));
        Assert.That(last?.Text, Is.EqualTo(TooManyErrors), "the 101st and 102nd NOOP past the limit of 100 junk commands are two errors");
    }

    [Test]
    public async Task Past_the_connection_limit_a_new_client_waits_ungreeted_until_a_session_ends_as_at_Postfixs_process_limit()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), logs: logs, maxConnections: 2, maxConnectionsPerClient: 0);
        var first = await SmtpLineClient.ConnectAsync(server.Port);
        await using var second = await SmtpLineClient.ConnectAsync(server.Port);

        var third = SmtpLineClient.ConnectAsync(server.Port);
        var waited = await Task.WhenAny(third, Task.Delay(1000)) != third;
        await first.SendAsync("QUIT");
        await first.DisposeAsync();
        await using var greeted = await third.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Multiple(() =>
        {
            Assert.That(waited, Is.True, "no greeting while two sessions are open");
            Assert.That(greeted.Greeting.Code, Is.EqualTo(220), "greeted once one ended");
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6032).Message,
                Is.EqualTo("2 sessions open (MaxConnections): no new connection is accepted until one ends; new clients wait in the listen queue"));
        });
    }

    [Test]
    public async Task A_client_that_resets_its_connection_is_no_internal_error_and_no_421_is_claimed()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), logs: logs);
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            await socket.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, server.Port));
            var buffer = new byte[4096];
            await socket.ReceiveAsync(buffer);
            await socket.SendAsync("EHLO client.example\r\n"u8.ToArray());
            await socket.ReceiveAsync(buffer);
            socket.LingerState = new System.Net.Sockets.LingerOption(true, 0); // a close that resets, as a scanner's
            socket.Close();
        }

        // SmtpServer faults the session within milliseconds of the reset (the probe that found this saw 6026 at once).
        var stopwatch = Stopwatch.StartNew();
        while (!logs.Entries.Any(e => e.EventId.Id == 6026) && stopwatch.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(50);
        }

        Assert.That(logs.Entries.Where(e => e.EventId.Id == 6026).Select(e => e.Message), Is.Empty, "6026 is for SmtpServer's own faults, which a client's reset is not");
    }

    [Test]
    public async Task The_error_limit_names_the_end_of_the_message_when_the_final_dot_was_refused()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), logs: logs, hardErrorLimit: 1);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        var end = await client.SendMailAsync("a@example.org", ["b@example.org"], string.Concat(Enumerable.Repeat("Received: by relay.example\r\n", 60)) + "Subject: x\r\n\r\nbody\r\n");

        Assert.That(end.Text, Does.StartWith("554 5.4.0"), "a mail loop: the one error");
        Assert.That(logs.Entries.Single(e => e.EventId.Id == 6031).Message, Does.Contain("the last after END-OF-MESSAGE)"),
            "the command whose reply was the error, as Postfix's 'too many errors after END-OF-MESSAGE'");
    }

    [Test]
    public async Task Sessions_SmtpServer_ends_on_an_exception_give_back_their_place_under_MaxConnections()
    {
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), maxConnections: 1, listeners: new FaultingListeners());
        for (var i = 0; i < 3; i++)
        {
            await using var client = await SmtpLineClient.ConnectAsync(server.Port).WaitAsync(TimeSpan.FromSeconds(10));
            await client.SendAsync("EHLO client.example");
            var faulted = await client.SendAsync(FaultingListeners.Trigger);
            Assert.That(faulted.Text, Is.EqualTo("421 4.3.0 Error: internal error"));
        }

        await using var last = await SmtpLineClient.ConnectAsync(server.Port).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(last.Greeting.Code, Is.EqualTo(220), "three faulted sessions, each gave its one place back");
    }
}
