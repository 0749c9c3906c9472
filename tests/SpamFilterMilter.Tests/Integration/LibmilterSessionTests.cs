namespace SpamFilterMilter.Tests.Integration;

/// <summary>Session-level protocol features against a real libmilter milter: reuse, RCPT_REJ, UNKNOWN, SKIP.</summary>
[Category("Integration")]
public class LibmilterSessionTests : TempFolderTest
{
    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net");

    private static async Task<FilterVerdict> OneMessageAsync(IFilterSession session, string body = "hello\r\n", params string[] headers)
    {
        await session.MailAsync("alice@example.org");
        await session.RcptAsync("bob@example.com");
        await session.DataAsync();
        foreach (var header in headers.Length > 0 ? headers : ["Subject: test"])
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            await session.HeaderAsync(header[..colon], header[(colon + 1)..]);
        }

        await session.EndOfHeadersAsync();
        await session.BodyAsync(Encoding.ASCII.GetBytes(body));
        return await session.EndOfMessageAsync();
    }

    /// <summary>A libmilter milter, the plug-in loaded by path for it, and one SMTP session connected; disposed in reverse.</summary>
    private sealed record Connected(MilterProcess Milter, ISpamFilterPlugin Plugin, IFilterSession Session) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Session.DisposeAsync();
            await Plugin.DisposeAsync();
            await Milter.DisposeAsync();
        }
    }

    /// <summary>Starts the libmilter test milter with <paramref name="milterArguments"/> and connects one SMTP session to it through the plug-in.</summary>
    private async Task<Connected> ConnectAsync(params string[] milterArguments)
    {
        var milter = await MilterProcess.StartLibmilterAsync(milterArguments);
        var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));
        var session = plugin.OpenSession();
        await session.ConnectAsync(Client);
        return new Connected(milter, plugin, session);
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task With_a_pool_SMTP_sessions_reuse_one_negotiated_connection_through_QUIT_NC(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Session:seen");
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, $"POOL_SIZE=2\nIO_MODE={ioMode}\n"));

        for (var i = 0; i < 3; i++)
        {
            await using var session = plugin.OpenSession();
            Assert.That((await session.ConnectAsync(Client)).Failure, Is.Null);
            var verdict = await OneMessageAsync(session);
            Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Session", " seen") }), $"session {i}");
            await session.CloseAsync();
        }

        var transcript = await milter.TranscriptAfterAsync("eom", 3);
        Assert.That(transcript.Select(l => l.Connection).Distinct(), Is.EqualTo(new[] { 1 }), "one milter connection for three SMTP sessions");
        Assert.That(transcript.Count(l => l.Event == "negotiate"), Is.EqualTo(1), "negotiated once");
        Assert.That(transcript.Count(l => l.Event == "connect"), Is.EqualTo(3), "libmilter took a CONNECT after each QUIT_NC");
        Assert.That(transcript.Count(l => l.Event == "close"), Is.GreaterThanOrEqualTo(2));
    }

    [Test]
    public async Task A_session_that_ends_without_a_completed_message_is_not_reused()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, "POOL_SIZE=2\n"));

        await using (var helloOnly = plugin.OpenSession())
        {
            await helloOnly.ConnectAsync(Client);
            await helloOnly.HeloAsync("client.example.net"); // libmilter would ignore QUIT_NC here
        }

        await using (var next = plugin.OpenSession())
        {
            await next.ConnectAsync(Client);
            Assert.That((await OneMessageAsync(next)).Failure, Is.Null);
        }

        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Select(l => l.Connection).Distinct().Count(), Is.EqualTo(2), "the second session had to open its own");
        Assert.That(transcript.Count(l => l.Event == "negotiate"), Is.EqualTo(2));
    }

    [Test]
    public async Task A_parked_connection_the_milter_closed_is_replaced_without_a_failure()
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, "POOL_SIZE=1\n"));
        var first = MilterScripts.RunAsync(listener, _ => null, Raw.OptNeg(6, 0x1FF, 0));

        await using (var session = plugin.OpenSession())
        {
            await session.ConnectAsync(Client);
            await OneMessageAsync(session);
        }

        var received = await first; // the script stops at QUIT or QUIT_NC... and closes: the parked connection is dead
        Assert.That(received.Last().Code, Is.EqualTo('K'), "the session was parked with QUIT_NC");
        var second = MilterScripts.RunAsync(listener, _ => null, Raw.OptNeg(6, 0x1FF, 0));
        await using (var session = plugin.OpenSession())
        {
            var decision = await session.ConnectAsync(Client);
            Assert.That(decision.Failure, Is.Null, "a dead parked connection is not a failure: a fresh one is opened");
            Assert.That((await OneMessageAsync(session)).Failure, Is.Null);
        }

        Assert.That((await second).First().Code, Is.Not.EqualTo('K'));
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_milter_on_a_UNIX_domain_socket_is_reached_through_HOST_unix(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAtAsync("unix:{0}", "-a", "eom=addheader:X-Socket:unix");
        await using var plugin = DeployedPlugin.Create(Folder.Write("unix.opt", $"HOST=unix:{milter.SocketPath}\nIO_MODE={ioMode}\n"));
        await using var session = plugin.OpenSession();
        await session.ConnectAsync(Client);

        var verdict = await OneMessageAsync(session);

        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Socket", " unix") }));
        Assert.That(plugin.Description, Is.EqualTo($"milter unix:{milter.SocketPath}"));
    }

    [Test]
    public async Task A_milter_on_IPv6_is_reached_through_a_bracketed_literal()
    {
        await using var milter = await MilterProcess.StartLibmilterAtAsync("inet6:{1}@::1", "-a", "mail=reject");
        await using var plugin = DeployedPlugin.Create(Folder.Write("v6.opt", $"HOST=[::1]\nPORT={milter.Port}\n"));
        await using var session = plugin.OpenSession();

        await session.ConnectAsync(Client);
        var decision = await session.MailAsync("a@b");

        Assert.That((decision.Action, decision.Failure), Is.EqualTo((FilterAction.Reject, (FilterFailure?)null)));
        Assert.That(plugin.Description, Is.EqualTo($"milter [::1]:{milter.Port}"));
    }

    [Test]
    public async Task HELO_may_come_again_and_inside_a_transaction_it_aborts_the_message_first()
    {
        await using var connected = await ConnectAsync();
        var (milter, _, session) = connected;

        await session.HeloAsync("first.example.net");
        await session.MailAsync("alice@example.org");
        await session.HeloAsync("second.example.net"); // EHLO after STARTTLS, say: the transaction is gone
        var verdict = await OneMessageAsync(session);
        await session.CloseAsync();

        Assert.That(verdict.Failure, Is.Null);
        var events = (await milter.TranscriptAfterAsync("close")).Where(l => l.Event is "helo" or "mail" or "abort" or "eom").Select(l => l.Event + (l.Event == "helo" ? " " + l.Fields[0] : "")).ToList();
        Assert.That(events, Is.EqualTo(new[] { "helo first.example.net", "mail", "abort", "helo second.example.net", "mail", "eom" }));
    }

    [Test]
    public async Task Recipients_the_host_refused_reach_a_milter_that_asked_with_rcpt_mailer_error()
    {
        await using var connected = await ConnectAsync("-P", "RCPT_REJ");
        var (milter, _, session) = connected;
        await session.MailAsync("alice@example.org");

        var refused = await session.RcptRejectedAsync("nobody@example.com", new SmtpReply(550, "5.1.1", "No such user"));
        var accepted = await session.RcptAsync("bob@example.com");
        await session.CloseAsync();

        Assert.That((refused.Action, accepted.Action), Is.EqualTo((FilterAction.Continue, FilterAction.Continue)));
        var transcript = await milter.TranscriptAfterAsync("close");
        var rcpts = transcript.Where(l => l.Event == "rcpt").Select(l => l.Fields[0]).ToArray();
        Assert.That(rcpts, Is.EqualTo(new[] { "<nobody@example.com>", "<bob@example.com>" }));
        var macros = transcript.Where(l => l.Event == "macro" && l.Fields[0] == "rcpt").Select(l => $"{l.Fields[1]}={l.Fields[2]}").ToArray();
        Assert.That(macros, Does.Contain("{rcpt_mailer}=error").And.Contain("{rcpt_host}=5.1.1").And.Contain("{rcpt_addr}=No such user"));
        Assert.That(macros, Does.Contain("{rcpt_addr}=bob@example.com"), "the next recipient has its own macros again");
    }

    [Test]
    public async Task Recipients_the_host_refused_are_not_sent_to_a_milter_that_did_not_ask()
    {
        await using var connected = await ConnectAsync();
        var (milter, _, session) = connected;
        await session.MailAsync("alice@example.org");

        await session.RcptRejectedAsync("nobody@example.com", new SmtpReply(550, "5.1.1", "No such user"));
        await session.RcptAsync("bob@example.com");
        await session.CloseAsync();

        var transcript = await milter.TranscriptAfterAsync("close");
        Assert.That(transcript.Where(l => l.Event == "rcpt").Select(l => l.Fields[0]), Is.EqualTo(new[] { "<bob@example.com>" }));
    }

    [Test]
    public async Task An_unknown_SMTP_command_reaches_the_milter_which_may_change_the_reply()
    {
        await using var connected = await ConnectAsync("-a", "unknown/XYZZY=reply:502:5.5.1:No magic here");
        var (milter, _, session) = connected;

        var decision = await session.UnknownAsync("XYZZY please");
        var harmless = await session.UnknownAsync("NOOP2");

        Assert.That((decision.Action, decision.Reply?.ToString()), Is.EqualTo((FilterAction.Reject, "502 5.5.1 No magic here")));
        Assert.That(harmless.Action, Is.EqualTo(FilterAction.Continue));
        Assert.That((await milter.TranscriptAfterAsync("unknown", 2)).Where(l => l.Event == "unknown").Select(l => l.Fields[0]),
            Is.EqualTo(new[] { "XYZZY please", "NOOP2" }));
    }

    [Test]
    public async Task SKIP_after_a_header_stops_the_headers_but_not_the_rest()
    {
        await using var connected = await ConnectAsync("-a", "header/X-Second=skip");
        var (milter, _, session) = connected;

        var verdict = await OneMessageAsync(session, "body\r\n", "X-First: 1", "X-Second: 2", "X-Third: 3");
        await session.CloseAsync();

        Assert.That(verdict.Failure, Is.Null);
        var events = (await milter.TranscriptAfterAsync("close")).Select(l => l.Event).ToList();
        Assert.That(events.Count(e => e == "header"), Is.EqualTo(2), "X-Third was not sent");
        Assert.That(events, Does.Contain("eoh").And.Contain("body").And.Contain("eom"));
    }

    [Test]
    public async Task SKIP_after_a_body_chunk_stops_the_body_but_the_end_of_message_still_comes()
    {
        await using var connected = await ConnectAsync("-a", "body=skip", "-a", "eom=addheader:X-Done:yes");
        var (milter, _, session) = connected;

        var verdict = await OneMessageAsync(session, new string('x', 200_000));
        await session.CloseAsync();

        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Done", " yes") }));
        var transcript = await milter.TranscriptAfterAsync("close");
        Assert.That(transcript.Count(l => l.Event == "body"), Is.EqualTo(1), "one 65535-byte chunk, then no more");
        Assert.That(transcript.Count(l => l.Event == "eom"), Is.EqualTo(1));
    }
}
