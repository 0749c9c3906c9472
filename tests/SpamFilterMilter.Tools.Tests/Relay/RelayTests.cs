using System.Net;
using System.Net.Sockets;
using System.Text;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Relay;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>
/// The relay end to end: swaks sends to it, it runs the message through option.dat's slot (the plug-in loaded by path
/// and a real milter: the libmilter test milter, opendkim), answers swaks, and hands the result to Postfix's smtp-sink
/// as the next hop, or to a maildir.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public class RelayTests : TempFolderTest
{
    private const string Sender = "claims@prizes.example.net";
    private const string Bob = "bob@example.com";      // opts in through etc/directory.ldif
    private const string Carol = "carol@example.com";  // does not

    private static readonly string Plugins = Path.Combine(AppContext.BaseDirectory, "plugins");

    private SmtpSink _sink = null!;

    [OneTimeSetUp]
    public async Task StartNextHop() => _sink = await SmtpSink.StartAsync();

    [OneTimeTearDown]
    public async Task StopNextHop() => await _sink.DisposeAsync();

    /// <summary>etc/'s option.dat, directory.ldif and imta.cnf, milter.opt pointing at <paramref name="milterPort"/>.</summary>
    private string EtcFor(int milterPort)
    {
        foreach (var name in new[] { "option.dat", "imta.cnf", "directory.ldif" })
        {
            File.Copy(Repository.Path("etc/" + name), Path.Combine(Folder.Path, name));
        }

        Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={milterPort}\nTIMEOUT=1000\n");
        return Path.Combine(Folder.Path, "option.dat");
    }

    /// <summary>A slot that filters every message coming in on the channel tcp_relay (relay.cnf), as docs/relay.md shows.</summary>
    private string EveryMessageFor(int milterPort)
    {
        Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={milterPort}\nTIMEOUT=1000\n");
        Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1\n");
        return Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");
    }

    private Task<RelayServer> StartAsync(string optionFile, string? nextHop = null, bool toMaildir = false, CapturedLogs? logs = null, IPEndPoint[]? listen = null,
        Uri? metricsOtlp = null, (string Certificate, string Key)? tls = null, int maxMessageSize = 10_240_000) =>
        RelayServer.StartAsync(new RelayOptions
        {
            Listen = listen ?? [new IPEndPoint(IPAddress.Loopback, 0)],
            ServerName = "relay.example",
            OptionFile = optionFile,
            PluginFolder = Plugins,
            ChannelFile = File.Exists(Path.Combine(Folder.Path, "relay.cnf")) ? Path.Combine(Folder.Path, "relay.cnf") : null,
            SourceChannel = "tcp_relay",
            NextHop = toMaildir ? null : NextHop.TryParse(nextHop ?? $"127.0.0.1:{_sink.Port}"),
            Maildir = toMaildir ? Path.Combine(Folder.Path, "mail") : null,
            Quarantine = Path.Combine(Folder.Path, "quarantine"),
            MetricsOtlp = metricsOtlp,
            MetricsInterval = TimeSpan.FromSeconds(1),
            TlsCertificate = tls?.Certificate,
            TlsKey = tls?.Key,
            MaxMessageSize = maxMessageSize,
        }, logs ?? new CapturedLogs(), default);

    private static string Sample(string name) => Repository.Path("etc/samples/" + name);

    /// <summary>A sample message without its last line end, which swaks adds itself.</summary>
    private string ForSwaks(string sample)
    {
        var text = File.ReadAllText(sample);
        return Folder.Write("swaks-" + Path.GetFileName(sample), text.EndsWith('\n') ? text.TrimEnd('\n').TrimEnd('\r') : text);
    }

    private static byte[] Lf(byte[] message) => Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(message).Replace("\r\n", "\n", StringComparison.Ordinal));

    private static bool OurReceived(string field) => field.Contains("by relay.example (SpamFilterMilter) with ESMTP id ", StringComparison.Ordinal);

    [Test]
    public async Task The_slot_filters_only_the_recipient_who_opted_in_and_each_group_reaches_the_next_hop_byte_for_byte()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES");
        await using var relay = await StartAsync(EtcFor(milter.Port));
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));

        var swaks = await Swaks.SendAsync(relay.EndPoint.Port, Sender, [Bob, Carol], ForSwaks(Sample("06-free-offer.eml")));

        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        Assert.That(swaks.Replies[^2], Does.StartWith("250 2.0.0 Ok: "), swaks.ToString());
        var first = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        var second = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        var bob = first.RcptArgs.Single().Contains(Bob, StringComparison.Ordinal) ? first : second;
        var carol = bob == first ? second : first;
        var original = Lf(await File.ReadAllBytesAsync(Sample("06-free-offer.eml")));
        Assert.Multiple(() =>
        {
            Assert.That(bob.MailArgs, Is.EqualTo($"<{Sender}>"));
            Assert.That(bob.RcptArgs, Is.EqualTo(new[] { $"<{Bob}> ORCPT=rfc822;{Bob}" }));
            Assert.That(carol.RcptArgs, Is.EqualTo(new[] { $"<{Carol}> ORCPT=rfc822;{Carol}" }));
            Assert.That(carol.MessageWithout(OurReceived), Is.EqualTo(original), "Carol did not opt in: her copy is the message as sent");
            Assert.That(Encoding.Latin1.GetString(bob.MessageWithout(OurReceived)), Is.EqualTo(Encoding.Latin1.GetString(original).Replace("\n\n", "\nX-Spam-Flag: YES\n\n", StringComparison.Ordinal)));
            Assert.That(bob.MessageWithout(OurReceived), Is.Not.EqualTo(bob.Message), "the relay's own Received field is on top");
        });
    }

    [Test]
    public async Task opendkims_signature_made_in_the_relay_verifies_on_what_the_next_hop_received()
    {
        await using var opendkim = await MilterProcess.StartOpenDkimAsync();
        await using var relay = await StartAsync(EveryMessageFor(opendkim.Port));
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));
        var message = Folder.Write("signed.eml",
            "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: caf\u00e9 through the relay\r\n"
            + "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <relay-dkim@example.com>\r\n\r\nHello Bob,\r\n8-bit: caf\u00e9\r\n.a dot");

        var swaks = await Swaks.SendAsync(relay.EndPoint.Port, "alice@example.com", ["bob@example.org"], message);

        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        var dump = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        Assert.That(Encoding.UTF8.GetString(dump.Message), Does.StartWith("DKIM-Signature: v=1; a=rsa-sha256;"));
        Assert.That(await DkimVerifier.VerifyAsync(dump.Message, opendkim.WorkFolder), Is.EqualTo("pass"));
    }

    [Test]
    public async Task The_milter_is_given_the_queue_id_the_client_is_answered_with()
    {
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, _ => null);
        await using var relay = await StartAsync(EveryMessageFor(listener.Port), toMaildir: true);
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);

        var reply = await client.SendMailAsync(Sender, [Bob], "Subject: id\r\n\r\nbody\r\n");

        Assert.That(reply.Text, Does.StartWith("250 2.0.0 Ok: "));
        var queueId = reply.Text["250 2.0.0 Ok: ".Length..];
        var packets = await milter.WaitAsync(TimeSpan.FromSeconds(10));
        var given = packets.Where(p => p.Code == 'D').SelectMany(p => p.MacroPairs).Where(m => m.Key == "i").Select(m => m.Value).Distinct();
        Assert.That(given, Is.EqualTo(new[] { queueId }));
    }

    /// <summary>
    /// A milter that answers every step but the end of the message, which it holds until <paramref name="release"/>
    /// completes (then it continues), or, without one, until the session closes (within the slot's 10 s TIMEOUT).
    /// </summary>
    private static Task HoldingMilter(ScriptedMilterListener listener, TaskCompletionSource atEndOfMessage, Task? release = null) => Task.Run(async () =>
    {
        await using var session = await listener.AcceptAsync();
        await session.ExpectAsync('O');
        await session.SendAsync(Raw.OptNeg(6, 0x1FF, 0));
        while (true)
        {
            var packet = await session.ReadAsync();
            if (packet.Code == 'E')
            {
                atEndOfMessage.TrySetResult();
                if (release is not null)
                {
                    await release.WaitAsync(TimeSpan.FromSeconds(10));
                    await session.SendAsync(Raw.Packet('c'));
                }

                await session.SessionClosedAsync(TimeSpan.FromSeconds(10));
                return;
            }

            if (packet.Code is not ('D' or 'A'))
            {
                await session.SendAsync(Raw.Packet('c'));
            }
        }
    });

    [Test]
    public async Task Stopping_the_relay_lets_a_message_under_way_finish_and_stores_it_while_new_clients_are_told_421()
    {
        using var listener = new ScriptedMilterListener();
        var atEndOfMessage = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var milter = HoldingMilter(listener, atEndOfMessage, release.Task);
        var logs = new CapturedLogs();
        var relay = await StartAsync(EveryMessageFor(listener.Port), toMaildir: true, logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);
        var reply = client.SendMailAsync(Sender, [Bob], "Subject: under way\r\n\r\nbody\r\n");
        await atEndOfMessage.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stop = relay.StopAsync("SIGTERM", TimeSpan.FromSeconds(30), CancellationToken.None); // what SIGTERM does
        await using (var late = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port))
        {
            Assert.That(late.Greeting.Text, Is.EqualTo("421 relay.example Service shutting down, try again later"), "a client arriving now is told to come back");
        }

        Assert.That(stop.IsCompleted, Is.False, "the stop waits for the message under way");
        release.SetResult();

        Assert.That((await reply.WaitAsync(TimeSpan.FromSeconds(10))).Code, Is.EqualTo(250));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        await relay.DisposeAsync();
        Assert.Multiple(() =>
        {
            Assert.That(Directory.GetFiles(Path.Combine(Folder.Path, "mail", "new")), Has.Length.EqualTo(1), "the message was stored before the relay stopped");
            Assert.That(logs.Entries.Select(e => e.EventId.Id), Does.Contain(7005).And.Contain(7007).And.Not.Contain(7008));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7005).Message, Does.Contain("1 message(s) under way may finish within 30 s"));
        });
        await milter.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [TestCase(false, "after 0.3 s")]
    [TestCase(true, "at a second SIGTERM")]
    public async Task A_message_still_under_way_when_the_stop_stops_waiting_is_answered_421_so_the_client_keeps_it(bool secondSignal, string when)
    {
        using var listener = new ScriptedMilterListener();
        var atEndOfMessage = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var milter = HoldingMilter(listener, atEndOfMessage);
        var logs = new CapturedLogs();
        var relay = await StartAsync(EveryMessageFor(listener.Port), toMaildir: true, logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);
        var reply = client.SendMailAsync(Sender, [Bob], "Subject: held\r\n\r\nbody\r\n");
        await atEndOfMessage.Task.WaitAsync(TimeSpan.FromSeconds(10));

        using var hurry = new CancellationTokenSource();
        var stop = relay.StopAsync("SIGTERM", TimeSpan.FromSeconds(secondSignal ? 30 : 0.3), hurry.Token);
        if (secondSignal)
        {
            await Task.Delay(200);
            await hurry.CancelAsync();
        }

        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        await relay.DisposeAsync();
        Assert.Multiple(async () =>
        {
            Assert.That((await reply.WaitAsync(TimeSpan.FromSeconds(10))).Text, Is.EqualTo("421 4.3.2 Service shutting down, try again later"));
            Assert.That(Directory.GetFiles(Path.Combine(Folder.Path, "mail", "new")), Is.Empty, "nothing was stored");
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7008).Message, Does.StartWith($"1 message(s) still under way {when}: answered 421 4.3.2"));
        });
        await milter.WaitAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>
    /// A next hop that takes each message and holds its answer to the final dot until <paramref name="release"/>
    /// completes (a disk that is slow to sync, say): counts the messages whose final dot it received.
    /// </summary>
    private sealed class SlowNextHop : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private int _messages;

        public SlowNextHop(Task release)
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                using var connection = await _listener.AcceptTcpClientAsync();
                using var stream = connection.GetStream();
                using var reader = new StreamReader(stream, Encoding.ASCII);
                await stream.WriteAsync("220 hop.example ESMTP\r\n"u8.ToArray());
                var inData = false;
                while (await reader.ReadLineAsync() is { } line)
                {
                    string? reply = null;
                    if (inData)
                    {
                        if (line == ".")
                        {
                            inData = false;
                            Interlocked.Increment(ref _messages);
                            DotReceived.TrySetResult();
                            await release;
                            reply = "250 2.0.0 Ok: queued";
                        }
                    }
                    else if (line.StartsWith("DATA", StringComparison.OrdinalIgnoreCase))
                    {
                        inData = true;
                        reply = "354 go ahead";
                    }
                    else
                    {
                        reply = line.StartsWith("QUIT", StringComparison.OrdinalIgnoreCase) ? "221 bye" : "250 ok";
                    }

                    if (reply is not null)
                    {
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(reply + "\r\n"));
                    }
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public TaskCompletionSource DotReceived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Messages => Volatile.Read(ref _messages);

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Waits, up to 10 s, until an entry with <paramref name="eventId"/> is logged.</summary>
    private static async Task WhenLoggedAsync(CapturedLogs logs, int eventId)
    {
        for (var waited = 0; !logs.Entries.Any(e => e.EventId.Id == eventId); waited += 20)
        {
            Assert.That(waited, Is.LessThan(10_000), $"no {eventId} logged");
            await Task.Delay(20);
        }
    }

    [Test]
    public async Task A_message_whose_final_dot_reached_the_next_hop_is_answered_with_its_reply_even_past_the_stops_wait_never_421_and_sent_twice()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var hop = new SlowNextHop(release.Task);
        var logs = new CapturedLogs();
        var relay = await StartAsync(EveryMessageFor(milter.Port), nextHop: $"127.0.0.1:{hop.Port}", logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);
        var reply = client.SendMailAsync(Sender, [Bob], "Subject: taken\r\n\r\nbody\r\n");
        await hop.DotReceived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stop = relay.StopAsync("SIGTERM", TimeSpan.FromSeconds(0.3), CancellationToken.None); // the wait ends with the answer still to come
        await WhenLoggedAsync(logs, 7008); // the stop stopped waiting: only then does the next hop answer
        release.SetResult();

        var answer = await reply.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        await relay.DisposeAsync();
        Assert.Multiple(() =>
        {
            Assert.That(answer.Text, Does.StartWith("250 2.0.0 Ok"), "the next hop has it: the client must not send it again");
            Assert.That(hop.Messages, Is.EqualTo(1));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7008).Message, Does.StartWith("1 message(s) still under way after 0.3 s"));
        });
    }

    /// <summary>
    /// An OTLP/HTTP receiver on a loopback port: answers every request with one status and hands each request (path,
    /// content type, body as Latin-1: protobuf carries every name as UTF-8) to <see cref="NextAsync"/> in turn.
    /// </summary>
    private sealed class OtlpReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly System.Threading.Channels.Channel<(string Path, string? ContentType, string Body)> _requests =
            System.Threading.Channels.Channel.CreateUnbounded<(string Path, string? ContentType, string Body)>();

        public OtlpReceiver(int status = 200)
        {
            Port = ServerProcess.FreePort();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Start();
            _ = AnswerAsync(status);
        }

        public int Port { get; }

        public Uri Url(string path) => new($"http://127.0.0.1:{Port}{path}");

        /// <summary>The next request <paramref name="wanted"/> accepts (the others are passed over).</summary>
        public async Task<(string Path, string? ContentType, string Body)> NextAsync(Func<(string Path, string? ContentType, string Body), bool> wanted)
        {
            while (true)
            {
                var request = await _requests.Reader.ReadAsync();
                if (wanted(request))
                {
                    return request;
                }
            }
        }

        public void Dispose() => _listener.Close();

        private async Task AnswerAsync(int status)
        {
            try
            {
                while (true)
                {
                    var context = await _listener.GetContextAsync();
                    using var buffer = new MemoryStream();
                    await context.Request.InputStream.CopyToAsync(buffer);
                    context.Response.StatusCode = status;
                    context.Response.Close();
                    _requests.Writer.TryWrite((context.Request.Url!.AbsolutePath, context.Request.ContentType, Encoding.Latin1.GetString(buffer.ToArray())));
                }
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                // closed with the test
            }
        }
    }

    [Test]
    public async Task With_metrics_otlp_the_relay_sends_the_milters_counters_and_histograms_to_the_receiver()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        using var receiver = new OtlpReceiver();
        var logs = new CapturedLogs();
        var url = receiver.Url("/v1/metrics");
        await using var relay = await StartAsync(EveryMessageFor(milter.Port), toMaildir: true, logs: logs, metricsOtlp: url);
        await using (var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port))
        {
            Assert.That((await client.SendMailAsync(Sender, [Bob], "Subject: counted\r\n\r\nbody\r\n")).Code, Is.EqualTo(250));
        }

        // The first export that holds the message counter is the one.
        var (path, contentType, body) = await receiver.NextAsync(r => r.Body.Contains("spamfilter.milter.client.messages", StringComparison.Ordinal))
            .WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Multiple(() =>
        {
            Assert.That((path, contentType), Is.EqualTo(("/v1/metrics", "application/x-protobuf")));
            Assert.That(body, Does.Contain("spamfilter.milter.client.stage.duration").And.Contain("spamfilter.milter.verdict").And.Contain("default"));
            Assert.That(body, Does.Contain("spamfilter.milter.client.endpoint.count"), "set as the plug-in starts: the metrics must be listening by then");
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7009).Message, Is.EqualTo($"sending the milters' metrics by OTLP to {url} every 1 s"));
            Assert.That(logs.Entries.Any(e => e.EventId.Id == 7014), Is.False, "relay.cnf opts tcp_relay's messages in to slot 1");
        });
    }

    [Test]
    public async Task With_a_certificate_the_relay_offers_STARTTLS_relays_what_came_over_it_and_warns_of_a_certificate_about_to_lapse()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES");
        var (issued, intermediate) = TestCertificate.CreateIssued("relay.example"); // valid for 7 days
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port), logs: logs, tls: TestCertificate.WritePem(issued, Folder, intermediates: intermediate));
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));

        var swaks = await Swaks.SendAsync(relay.EndPoint.Port, Sender, [Bob], ForSwaks(Sample("06-free-offer.eml")), "--tls");

        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        var dump = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        var text = Encoding.Latin1.GetString(dump.Message);
        var helo = TranscriptLine.EventsWithMacros(await milter.TranscriptAfterAsync("eom")).Single(e => e.Event == "helo").Macros;
        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Contain("by relay.example (SpamFilterMilter) with ESMTPS id "), "the trace field says the message came over TLS");
            Assert.That(text, Does.Contain("X-Spam-Flag: YES"), "and the milter filtered it");
            Assert.That(helo.GetValueOrDefault("{tls_version}"), Is.EqualTo("TLSv1.3"), "the milter was told of the TLS, as relay.md says");
            Assert.That(helo.GetValueOrDefault("{cipher}"), Does.StartWith("TLS_"));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7015).Message,
                Does.Match(@"^STARTTLS offered with the certificate CN=relay\.example \(1 intermediate\(s\)\), valid until \d{4}-\d{2}-\d{2} "));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7016).Message, Does.StartWith("the TLS certificate CN=relay.example expires in 7 day(s) (")
                .And.EndWith("): once it has, clients that verify it will not send over TLS; renew it, then SIGHUP"));
        });
    }

    // SmtpServer's default authenticator takes any user with any password: a relay with STARTTLS offered AUTH over it, and
    // the milters were told that anyone who tried was an authenticated sender (opendkim signed their mail).
    [Test]
    public async Task Over_TLS_the_relay_offers_no_SMTP_AUTH_and_refuses_made_up_credentials()
    {
        var tls = TestCertificate.WritePem(TestCertificate.Create("mx.example.com"), Folder); // the name SmtpLineClient checks
        await using var relay = await StartAsync(Folder.Write("option.dat", "! no slot\n"), toMaildir: true, tls: tls);
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);
        await client.SendAsync("EHLO client.example");
        await client.StartTlsAsync();

        var ehlo = await client.SendAsync("EHLO client.example");
        var auth = await client.SendAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0anybody\0made-up")));

        Assert.That(ehlo.Text, Does.Not.Contain("AUTH"));
        Assert.That(auth.Text, Is.EqualTo("503 5.5.1 Error: authentication not enabled"), "Postfix's reply where it offers no AUTH");
    }

    [Test]
    public async Task A_reload_takes_a_renewed_certificate_and_keeps_the_one_in_use_when_the_new_files_cannot_be_used()
    {
        var logs = new CapturedLogs();
        var tls = TestCertificate.WritePem(TestCertificate.Create("old.example"), Folder);
        await using var relay = await StartAsync(Folder.Write("option.dat", "! no slot\n"), toMaildir: true, logs: logs, tls: tls);
        TestCertificate.WritePem(TestCertificate.Create("renewed.example"), Folder);

        await relay.ReloadAsync();
        File.WriteAllText(tls.Key, "not a key\n");
        await relay.ReloadAsync();
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);

        Assert.Multiple(() =>
        {
            Assert.That(logs.Entries.Where(e => e.EventId.Id == 7015).Select(e => e.Message[..e.Message.IndexOf(" (", StringComparison.Ordinal)]),
                Is.EqualTo(new[] { "STARTTLS offered with the certificate CN=old.example", "STARTTLS offered with the certificate CN=renewed.example" }));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 7017).Message, Does.StartWith($"SIGHUP: the TLS certificate was not read again, the one in use stays: cannot use {tls.Certificate} with the key {tls.Key} as the TLS certificate: "));
        });
        Assert.That((await client.SendAsync("EHLO client.example")).Text, Does.Contain("STARTTLS"), "still offered");
    }

    [Test]
    public async Task A_slot_nothing_opts_a_message_in_to_is_a_warning_at_the_start_not_mail_let_through_in_silence()
    {
        Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=1\n");
        var optionDat = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n"); // no relay.cnf
        var logs = new CapturedLogs();

        await using var relay = await StartAsync(optionDat, toMaildir: true, logs: logs);
        var check = await ConfigurationCheck.RunAsync(optionDat, null, Plugins, reach: false, sourceChannel: "tcp_relay");

        Assert.That(logs.Entries.Single(e => e.EventId.Id == 7014).Message, Is.EqualTo(
            "slot 1 filters no message: nothing opts one in (no sourcespamfilter1optin for source channel tcp_relay, no destinationspamfilter1optin for a destination channel (none named), no LDAP_*OPTIN1 with a directory)"));
        Assert.That(check.Findings.Where(f => f is { Kind: FindingKind.Note, Slot: 1 }).Select(f => $"slot {f.Slot} {f.Text}"),
            Is.EqualTo(new[] { logs.Entries.Single(e => e.EventId.Id == 7014).Message }), "check-config --source-channel says it before the relay starts");
    }

    [Test]
    public async Task A_reload_whose_channel_table_leaves_a_slot_nothing_opts_in_to_warns_of_it_again()
    {
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(EveryMessageFor(1), toMaildir: true, logs: logs); // relay.cnf opts tcp_relay in to slot 1
        var table = Folder.Write("relay.cnf", "tcp_relay disablesourcespamfilter1\n");

        var reload = await relay.ReloadAsync();

        Assert.That((reload.Applied, reload.Changes), Is.EqualTo((true, new[]
        {
            $"{table}: channel tcp_relay: disablesourcespamfilter1 added",
            $"{table}: channel tcp_relay: sourcespamfilter1 removed",
        })));
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 7014).Select(e => e.Message).ToList(), Is.EqualTo(new[] { "slot 1 filters no message: source channel tcp_relay has disablesourcespamfilter1" }),
            "the table the reload put to use is warned of as the start's is");
    }

    [Test]
    public async Task Metrics_the_receiver_refuses_are_a_warning_in_the_relays_log_not_silence()
    {
        using var receiver = new OtlpReceiver(status: 404); // a URL with the wrong path, say
        var logs = new CapturedLogs();
        var url = receiver.Url("/wrong/path");
        await using var relay = await StartAsync(EveryMessageFor(1), toMaildir: true, logs: logs, metricsOtlp: url);

        for (var sending = 0; sending < 3; sending++)
        {
            await receiver.NextAsync(_ => true).WaitAsync(TimeSpan.FromSeconds(20)); // one a second (MetricsInterval in StartAsync)
        }

        // Each refusal is told to the log as the exporter hears it: by the third request two had been refused.
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 7013).Select(e => e.Message).ToList(),
            Has.Count.EqualTo(1).And.Some.StartsWith($"metrics not sent to {url}: "), "one line, then quiet for ten minutes");
    }

    [Test]
    public async Task Given_an_IPv4_and_an_IPv6_address_the_relay_greets_clients_on_both()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port), listen: [new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.IPv6Loopback, 0)]);

        Assert.That(relay.EndPoints.Select(e => e.AddressFamily), Is.EqualTo(new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 }));
        foreach (var endPoint in relay.EndPoints)
        {
            using var client = new TcpClient(endPoint.AddressFamily);
            await client.ConnectAsync(endPoint);
            using var reader = new StreamReader(client.GetStream());
            Assert.That(await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo("220 relay.example ESMTP spamfilter-relay"), endPoint.ToString());
        }
    }

    [Test]
    public async Task A_message_over_max_message_size_sent_despite_SIZE_gets_Postfixs_552_after_its_final_dot_and_goes_nowhere()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port), logs: logs, maxMessageSize: 20_000);
        var before = SmtpSink.DumpsIn(_sink.Folder).Count;
        var message = Folder.Write("large.eml", "From: <alice@example.com>\r\nSubject: large\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 76) + "\r\n", 2_000)));

        var swaks = await Swaks.SendAsync(relay.EndPoint.Port, Sender, [Bob], message);

        Assert.That(swaks.Replies, Does.Contain("552 5.3.4 Error: message file too big"), swaks.ToString());
        Assert.That(swaks.Replies, Has.Some.StartsWith("221 "), "the session went on to swaks's QUIT: " + swaks);
        Assert.That(SmtpSink.DumpsIn(_sink.Folder), Has.Count.EqualTo(before), "nothing of it was relayed");
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 6033).Select(e => e.Message), Has.One.Contains("more than 20000 (MaxMessageSize)"));
    }

    [Test]
    public async Task A_message_the_milter_rejects_gets_its_reply_at_the_final_dot_and_goes_nowhere()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=reply:554:5.7.1:rejected by libmilter");
        await using var relay = await StartAsync(EveryMessageFor(milter.Port));
        var before = SmtpSink.DumpsIn(_sink.Folder).Count;

        var swaks = await Swaks.SendAsync(relay.EndPoint.Port, Sender, [Bob], ForSwaks(Sample("01-clean.eml")));

        Assert.That(swaks.ExitCode, Is.EqualTo(26), swaks.ToString());
        Assert.That(swaks.Replies, Does.Contain("554 5.7.1 rejected by libmilter"), swaks.ToString());
        Assert.That(SmtpSink.DumpsIn(_sink.Folder), Has.Count.EqualTo(before), "the relay hands on before it answers: nothing came");
    }

    [Test]
    public async Task A_recipient_the_milter_refuses_fails_the_message_alone_and_is_logged_as_lost_beside_others()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "rcpt/nobody@=reply:550:5.1.1:no such user here");
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port), logs: logs);
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));

        var alone = await Swaks.SendAsync(relay.EndPoint.Port, Sender, ["nobody@example.com"], ForSwaks(Sample("01-clean.eml")));
        var beside = await Swaks.SendAsync(relay.EndPoint.Port, Sender, ["nobody@example.com", Carol], ForSwaks(Sample("01-clean.eml")));

        Assert.That(alone.Replies, Does.Contain("550 5.1.1 no such user here"), alone.ToString());
        Assert.That(beside.ExitCode, Is.Zero, beside.ToString());
        var dump = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        Assert.That(dump.RcptArgs, Is.EqualTo(new[] { $"<{Carol}> ORCPT=rfc822;{Carol}" }));
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 7010).Select(e => e.Message),
            Has.One.Contains("\"nobody@example.com\"").And.Contains("550 5.1.1 no such user here"));
    }

    [Test]
    public async Task In_a_maildir_a_held_message_goes_to_the_quarantine_and_the_others_to_the_inbox()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=quarantine:looks like a lottery scam");
        await using var relay = await StartAsync(EtcFor(milter.Port), toMaildir: true);

        var swaks = await Swaks.SendAsync(relay.EndPoint.Port, Sender, [Bob, Carol], ForSwaks(Sample("02-lottery.eml")));

        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        var held = Directory.GetFiles(Path.Combine(Folder.Path, "quarantine", "new")).Single();
        var inbox = Directory.GetFiles(Path.Combine(Folder.Path, "mail", "new")).Single();
        var heldText = await File.ReadAllTextAsync(held);
        var inboxText = await File.ReadAllTextAsync(inbox);
        Assert.Multiple(() =>
        {
            Assert.That(heldText, Does.StartWith($"Return-Path: <{Sender}>\nDelivered-To: {Bob}\nReceived: from client.example"));
            Assert.That(heldText, Does.Contain("Subject: [HELD] You are our lottery WINNER\n"), "etc/option.dat's action tags what the milter quarantines");
            Assert.That(inboxText, Does.StartWith($"Return-Path: <{Sender}>\nDelivered-To: {Carol}\nReceived: from client.example"));
            Assert.That(inboxText, Does.Contain("Subject: You are our lottery WINNER\n"));
        });
    }

    [Test]
    public async Task The_next_hops_refusal_is_the_clients_reply_and_a_next_hop_that_is_down_is_a_451()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var refusing = await SmtpSink.StartAsync("-f", "RCPT");
        var optionFile = EveryMessageFor(milter.Port);
        await using var toRefusing = await StartAsync(optionFile, nextHop: $"127.0.0.1:{refusing.Port}");
        await using var toNobody = await StartAsync(optionFile, nextHop: $"127.0.0.1:{ServerProcess.FreePort()}");

        var refused = await Swaks.SendAsync(toRefusing.EndPoint.Port, Sender, [Bob], ForSwaks(Sample("01-clean.eml")));
        var down = await Swaks.SendAsync(toNobody.EndPoint.Port, Sender, [Bob], ForSwaks(Sample("01-clean.eml")));

        Assert.That(refused.ExitCode, Is.EqualTo(26), refused.ToString());
        Assert.That(refused.Replies[^2], Is.EqualTo("500 5.3.0 Error: command failed"), "smtp-sink -f RCPT: " + refused);
        Assert.That(down.Replies[^2], Is.EqualTo("451 4.4.1 Next hop not available - try again later"), down.ToString());
    }

    [Test]
    public async Task The_clients_MAIL_parameters_reach_the_next_hop_as_Postfix_passes_them_on()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port));
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));
        var message = Encoding.UTF8.GetBytes("Subject: parameters\r\n\r\ncaf\u00e9\r\n");

        var exchanges = await SmtpScriptClient.RunAsync(relay.EndPoint.Port, new SmtpDialogue("client.example",
            [new SmtpTransaction($"<{Sender}> BODY=8BITMIME RET=HDRS ENVID=envelope+2B1", [$"<{Bob}>"], message)]));

        Assert.That(exchanges.Select(e => e.Code), Is.EqualTo(new[] { 220, 250, 250, 250, 354, 250, 221 }));
        var dump = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        Assert.That(dump.MailArgs, Is.EqualTo($"<{Sender}> BODY=8BITMIME ENVID=envelope+2B1 RET=HDRS"));
    }

    [Test]
    public async Task A_RCPT_parameter_with_bare_LFs_inside_brackets_carries_no_command_to_the_next_hop()
    {
        // A review's attack: the ORCPT's brackets held a whole second transaction over bare LFs, which a next hop that ends
        // lines at an LF (Postfix does) ran from the relay's RCPT command: a message no milter saw, from a sender of the
        // client's choosing. A command line now ends at its LF, as at Postfix: "ORCPT=<" is no ORCPT, and each line after it
        // is the client's own command, which the milter hears of like any; the message's lines after the 354 end only at a
        // CR LF, and so does its final dot. What reaches the next hop is that transaction, filtered, and nothing else.
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port));
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));
        await using var client = await SmtpLineClient.ConnectAsync(relay.EndPoint.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync($"MAIL FROM:<{Sender}>");
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        await client.SendWithoutReadingAsync($"RCPT TO:<{Carol}> ORCPT=<\nRSET\nMAIL FROM:<spoof@bank.example>\nRCPT TO:<{Bob}>\nDATA\nSubject: injected\n\nnot the end\n.\n>;x\r\n");
        var all = new List<string?>();
        for (var i = 0; i < 5; i++)
        {
            all.Add((await client.ReadReplyAsync(bound.Token))?.Text);
        }

        var end = await client.SendRawAsync("\r\n.\r\n");
        var dump = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        await Task.Delay(500); // a second message, were there one, would be dumped right after the first
        var transcript = await milter.TranscriptAfterAsync("eom");

        Assert.Multiple(() =>
        {
            Assert.That(all, Is.EqualTo(new[] { "501 5.5.4 Error: Bad ORCPT parameter syntax", "250 Ok", "250 Ok", "250 Ok", "354 End data with <CR><LF>.<CR><LF>" }));
            Assert.That(end.Code, Is.EqualTo(250));
            Assert.That(transcript.Where(l => l.Event == "mail").Select(l => l.Fields[0]), Does.Contain("<spoof@bank.example>"), "the milter heard of the client's second transaction");
            Assert.That((dump.MailArgs, dump.RcptArgs.Count), Is.EqualTo(("<spoof@bank.example>", 1)));
            Assert.That(Encoding.ASCII.GetString(dump.Message), Does.Contain("not the end\n.\n>;x"), "a bare-LF dot ends no message");
            Assert.That(SmtpSink.DumpsIn(_sink.Folder).Except(seen), Is.Empty, "no second message reached the next hop");
        });
    }

    [Test]
    public async Task The_clients_RCPT_parameters_reach_the_next_hop_as_Postfix_passes_them_on_and_an_unknown_one_gets_Postfixs_555()
    {
        // SmtpServer's parser drops what follows a RCPT's path: the relay reads it from the command line (a tab parts
        // parameters too, as at Postfix).
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var relay = await StartAsync(EveryMessageFor(milter.Port));
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_sink.Folder));

        var exchanges = await SmtpScriptClient.RunAsync(relay.EndPoint.Port, new SmtpDialogue("client.example",
            [new SmtpTransaction($"<{Sender}>", [$"<{Bob}> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;bob+2Bold@example.com", $"<{Carol}> X-TRACK=1", $"<{Carol}>\tnotify=never"],
                Encoding.ASCII.GetBytes("Subject: parameters\r\n\r\nbody\r\n"))]));

        var dump = await SmtpSink.WaitForNewDumpAsync(_sink.Folder, seen, TimeSpan.FromSeconds(10));
        Assert.Multiple(() =>
        {
            Assert.That(exchanges.Select(e => e.ToString()), Has.Some.EqualTo($"RCPT TO:<{Carol}> X-TRACK=1 -> 555 5.5.4 Unsupported option: X-TRACK=1"));
            // As Postfix 3.7 passes them on (checked with the same lines): NOTIFY in its words and order, an ORCPT added.
            Assert.That(dump.RcptArgs, Is.EqualTo(new[]
            {
                $"<{Bob}> ORCPT=rfc822;bob+2Bold@example.com NOTIFY=SUCCESS,DELAY",
                $"<{Carol}> ORCPT=rfc822;{Carol} NOTIFY=NEVER",
            }));
        });
    }
}
