using System.Text;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// STARTTLS and SMTP AUTH through the integration, with swaks as the client and the libmilter test milter logging the
/// macros it could read at each event: what Postfix tells a milter of the session's TLS (at HELO) and of the
/// authenticated sender (at MAIL), and that TLS runs over the connection as SmtpServer's own upgrade would.
/// </summary>
[Category("Integration")]
public class TlsAndAuthTests : TempFolderTest
{
    private const string Message =
        "From: Alice <alice@example.com>\r\n" +
        "To: Bob <bob@example.org>\r\n" +
        "Subject: over TLS\r\n" +
        "\r\n" +
        "Hello Bob,\r\n" +
        "8-bit: caf\u00e9\r\n";

    private static readonly string[] TlsMacros = ["{tls_version}", "{cipher}", "{cipher_bits}"];
    private static readonly string[] AuthMacros = ["{auth_type}", "{auth_authen}"];

    private async Task<(FilteringServer Server, MemoryStore Store, ISpamFilterPlugin Plugin)> StartAsync(MilterProcess milter, bool tls, bool auth, CapturedLogs? logs = null)
    {
        var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));
        var store = new MemoryStore();
        var server = await FilteringServer.StartAsync(_ => plugin.OpenSession(), store,
            certificate: tls ? TestCertificate.Create(FilteringServer.Name) : null,
            users: auth ? new Dictionary<string, string> { ["alice"] = "s3cret" } : null, logs: logs);
        return (server, store, plugin);
    }

    private string MessageFile() => Folder.Write("message.eml", Message[..^2]);

    [Test]
    public async Task After_STARTTLS_the_milter_is_told_the_TLS_version_and_cipher_at_HELO_and_the_message_arrives_whole()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var (server, store, plugin) = await StartAsync(milter, tls: true, auth: false);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org"], MessageFile(), "--tls");

            Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
            var helos = TranscriptLine.EventsWithMacros(await milter.TranscriptAfterAsync("eom")).Where(e => e.Event == "helo").Select(e => e.Macros).ToList();
            var text = Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message);
            Assert.Multiple(() =>
            {
                Assert.That(helos, Has.Count.EqualTo(2), "EHLO, then EHLO again over TLS (RFC 3207)");
                Assert.That(helos[0].Keys, Has.None.AnyOf(TlsMacros), "the first EHLO came in plain text");
                Assert.That(helos[1].GetValueOrDefault("{tls_version}"), Is.EqualTo("TLSv1.3"));
                Assert.That(helos[1].GetValueOrDefault("{cipher}"), Does.Match("^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$"));
                Assert.That(helos[1].GetValueOrDefault("{cipher_bits}"), Is.EqualTo(helos[1].GetValueOrDefault("{cipher}", "").Contains("128", StringComparison.Ordinal) ? "128" : "256"));
                Assert.That(text, Does.Match(@"^Received: from client\.example \(localhost \[127\.0\.0\.1\]\)\r\n\s+by mx\.example\.com \(SpamFilterMilter\) with ESMTPS"));
                Assert.That(text, Does.EndWith("\r\nHello Bob,\r\n8-bit: caf\u00e9\r\n"));
            });
        }
    }

    [Test]
    public async Task A_sender_who_authenticated_is_named_to_the_milter_at_MAIL_with_the_mechanism()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var (server, store, plugin) = await StartAsync(milter, tls: true, auth: true);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org"], MessageFile(),
                "--tls", "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "s3cret");

            Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
            var mail = TranscriptLine.EventsWithMacros(await milter.TranscriptAfterAsync("eom")).Single(e => e.Event == "mail").Macros;
            var text = Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message);
            Assert.Multiple(() =>
            {
                Assert.That(mail.GetValueOrDefault("{auth_type}"), Is.EqualTo("PLAIN"));
                Assert.That(mail.GetValueOrDefault("{auth_authen}"), Is.EqualTo("alice"));
                Assert.That(text, Does.Contain("with ESMTPSA"), "TLS and AUTH in the trace field");
                var macros = store.Messages.Single().Macros;
                Assert.That(macros.Keys, Is.EquivalentTo((string[])[.. TlsMacros, .. AuthMacros]), "the store gets them too, for a filter of the whole message (the relay's)");
                Assert.That((macros["{tls_version}"], macros["{auth_type}"], macros["{auth_authen}"]), Is.EqualTo(("TLSv1.3", "PLAIN", "alice")));
            });
        }
    }

    // The helper's finding, as swaks makes it: SmtpServer's default authenticator took any password, and opendkim signed.
    [Test]
    public async Task Without_an_authenticator_of_the_applications_AUTH_is_not_offered_a_made_up_login_is_refused_and_the_milter_hears_of_no_sender()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var (server, store, plugin) = await StartAsync(milter, tls: true, auth: false);
        await using (plugin)
        await using (server)
        {
            await using (var client = await SmtpLineClient.ConnectAsync(server.Port))
            {
                await client.SendAsync("EHLO client.example");
                await client.StartTlsAsync();
                var ehlo = await client.SendAsync("EHLO client.example");
                var auth = await client.SendAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0mallory\0made-up")));
                var mail = await client.SendMailAsync("alice@example.com", ["bob@example.org"], "Subject: unsigned\r\n\r\nbody\r\n");

                Assert.That(ehlo.Text, Does.Not.Contain("AUTH"));
                Assert.That(auth.Text, Is.EqualTo("503 5.5.1 Error: authentication not enabled"), "Postfix's reply where it offers no AUTH");
                Assert.That(mail.Code, Is.EqualTo(250), "the session goes on, unauthenticated");
            }

            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org"], MessageFile(),
                "--tls", "--auth", "PLAIN", "--auth-user", "mallory", "--auth-password", "made-up");

            Assert.That(swaks.ExitCode, Is.Not.Zero, "swaks finds no AUTH offered: " + swaks);
            var seen = TranscriptLine.EventsWithMacros(await milter.TranscriptAfterAsync("eom")).SelectMany(e => e.Macros.Keys).ToHashSet();
            Assert.That(seen, Has.None.AnyOf(AuthMacros));
            Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Does.Contain(" with ESMTPS id ").And.Not.Contain("ESMTPSA"));
        }
    }

    // In IO_MODE=async the plug-in finishes a call on its own I/O thread, and what awaited it ran there: SmtpServer's
    // session, and the application's code for it. A store (or authenticator) that blocked there held up every milter
    // connection that thread serves (a helper's test: an unrelated session waited 3 s for one that slept). The milter
    // sleeps at the end of the message so that its answer comes after the store's caller waits for it.
    [Test]
    public async Task The_applications_store_runs_on_a_thread_pool_thread_not_on_the_plugins_IO_thread()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=sleep:100");
        var plugin = DeployedPlugin.Create(milter.OptionFile(Folder)); // IO_MODE=async, the default
        var threads = new List<(bool Pool, string? Name)>();
        var store = new MemoryStore(_ =>
        {
            lock (threads)
            {
                threads.Add((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
            }

            return null;
        });
        await using (plugin)
        await using (var server = await FilteringServer.StartAsync(_ => plugin.OpenSession(), store))
        {
            for (var i = 0; i < 3; i++)
            {
                await using var client = await SmtpLineClient.ConnectAsync(server.Port);
                Assert.That((await client.SendMailAsync("alice@example.com", ["bob@example.org"], "Subject: where\r\n\r\nbody\r\n")).Code, Is.EqualTo(250));
            }
        }

        Assert.That(threads.Select(t => t.Pool), Is.EqualTo(new[] { true, true, true }), string.Join(", ", threads.Select(t => t.Name)));
    }

    [Test]
    public async Task A_session_without_TLS_or_AUTH_gives_the_milter_none_of_their_macros()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var (server, store, plugin) = await StartAsync(milter, tls: true, auth: true);
        await using (plugin)
        await using (server)
        {
            var swaks = await Swaks.SendAsync(server.Port, "alice@example.com", ["bob@example.org"], MessageFile());

            Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
            var seen = TranscriptLine.EventsWithMacros(await milter.TranscriptAfterAsync("eom")).SelectMany(e => e.Macros.Keys).ToHashSet();
            Assert.That(seen, Has.None.AnyOf([.. TlsMacros, .. AuthMacros]));
            Assert.That(store.Messages, Has.Count.EqualTo(1));
        }
    }

    [Test]
    public async Task On_a_port_with_TLS_from_the_start_the_greeting_and_the_message_go_over_it_and_STARTTLS_is_not_offered()
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, certificate: TestCertificate.Create(FilteringServer.Name), implicitTls: true);
        await using var client = await SmtpLineClient.ConnectTlsAsync(server.Port);

        var ehlo = await client.SendAsync("EHLO client.example");
        var end = await client.SendMailAsync("a@example.org", ["b@example.org"], "Subject: over SMTPS\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(client.Greeting.Code, Is.EqualTo(220));
            Assert.That(ehlo.Text, Does.Not.Contain("STARTTLS"));
            Assert.That(end.Code, Is.EqualTo(250));
            Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Does.Contain(" with ESMTPS id "));
        });
    }

    // A stop reaches the write of the 421 as a cancellation; over TLS a write cancelled part-way lost a record SslStream had
    // encrypted, so the 421, encrypted under the next sequence number, did not decrypt (2 runs in 150 for a reviewer; here
    // the old code failed within 200 runs, and this one passed 300). Repeated for that, some 30 ms a run.
    [Test]
    [Repeat(200)]
    public async Task A_client_idle_over_TLS_when_the_server_stops_is_told_421_in_a_record_it_can_decrypt()
    {
        var server = await FilteringServer.StartAsync(null, new MemoryStore(), certificate: TestCertificate.Create(FilteringServer.Name));
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.StartTlsAsync();
        await client.SendAsync("EHLO client.example");

        await server.DisposeAsync();

        var reply = await client.SendAsync("MAIL FROM:<a@example.org>").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(client.TlsProtocol, Is.Not.Null);
        Assert.That(reply.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True, "a 421 closes the session");
    }

    // A client that pipelines commands over TLS and reads none of the replies holds the server's write; at a stop the write
    // may take FinalReplyTimeout (5 s) more, no longer, and must not be followed by a second one: SslStream refuses a write
    // while one is pending, and that refusal ended the session before its pipe was disposed (connection and filter
    // session left open, the client's replies flowing again as soon as it read).
    [Test]
    public async Task A_client_over_TLS_that_reads_nothing_is_cut_off_at_a_stop_and_its_filter_session_closed()
    {
        var filter = FilterSessionMock.ContinuingEverywhere();
        var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), certificate: TestCertificate.Create(FilteringServer.Name),
            listeners: new SmallSendBufferListeners());
        await using var client = await SmtpLineClient.ConnectWithSmallBufferAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.StartTlsAsync();
        await client.SendAsync("EHLO client.example");
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        _ = client.SendWithoutReadingAsync(string.Concat(Enumerable.Repeat("NOOP\r\n", 100_000)), giveUp.Token);
        await Task.Delay(TimeSpan.FromSeconds(1)); // the server's write is held by now: its replies fill the small buffers

        var stopping = server.DisposeAsync().AsTask(); // the client reads nothing meanwhile: the held write may take 5 s more

        // The bound is 5 s; 10 leaves the machine room, not a bound twice as long.
        Assert.That(await Task.WhenAny(stopping, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(stopping), "the server stopped within the last write's bound");

        // Before the client reads anything: reading would let the held write finish, and the session end on its own.
        Assert.That(filter.Invocations.Count(i => i.Method.Name == nameof(IFilterSession.DisposeAsync)), Is.EqualTo(1),
            "the session ended within the bound, and its filter session was closed");
        var (replies, closed) = await client.ReadUntilClosedAsync(TimeSpan.FromSeconds(20));
        Assert.That(closed, Is.True, $"the connection closed after {replies} replies");
        await giveUp.CancelAsync();
    }

    [Test]
    public async Task A_stop_while_the_server_waits_for_the_clients_handshake_is_a_421_not_SmtpServers_221()
    {
        var server = await FilteringServer.StartAsync(null, new MemoryStore(), certificate: TestCertificate.Create(FilteringServer.Name));
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        Assert.That((await client.SendAsync("STARTTLS")).Code, Is.EqualTo(220));

        await server.DisposeAsync();

        var reply = await client.SendRawAsync("").WaitAsync(TimeSpan.FromSeconds(10)); // reads what comes, sends nothing
        Assert.That(reply.Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"), "a 221 would tell the client its session ended as asked");
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task A_command_sent_in_plain_text_behind_STARTTLS_is_not_run_and_the_session_ends()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        var (server, store, plugin) = await StartAsync(milter, tls: true, auth: false, logs);
        await using (plugin)
        await using (server)
        {
            await using var client = await SmtpLineClient.ConnectAsync(server.Port);
            Assert.That((await client.SendAsync("EHLO client.example")).Text, Does.Contain("STARTTLS"));

            // RFC 3207 §4.2: what follows STARTTLS in the same packet was sent before TLS and must not count as a
            // command; here it reaches the handshake, which fails on it.
            var ready = await client.SendRawAsync("STARTTLS\r\nMAIL FROM:<mallory@example.net>\r\n");

            Assert.That(ready.Code, Is.EqualTo(220));
            Assert.That(await client.IsClosedByServerAsync(), Is.True, "no reply to the smuggled MAIL, and the connection closed");
            Assert.That(TranscriptLine.EventsWithMacros(milter.Transcript()).Select(e => e.Event), Has.None.EqualTo("mail"));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6017).Message, Does.Match(@"^session [0-9a-f-]+: TLS handshake failed: "".+""$"), "the operator is told");
        }
    }
}
