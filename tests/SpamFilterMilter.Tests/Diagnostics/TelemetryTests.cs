using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace SpamFilterMilter.Tests.Diagnostics;

/// <summary>The metrics and activities OpenTelemetry picks up, recorded the way a listener sees them.</summary>
[NonParallelizable]
public class TelemetryTests : TempFolderTest
{
    private sealed record Measurement(string Instrument, double Value, Dictionary<string, string?> Tags);

    private static MessageSubmission Message() => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Loopback, 25),
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = new MemoryStream("Subject: t\r\n\r\nbody\r\n"u8.ToArray()),
    };

    /// <summary>The measurements of the milter on loopback port <paramref name="port"/>.</summary>
    private static List<Measurement> Of(ConcurrentQueue<Measurement> measurements, int port) =>
        [.. measurements.Where(m => m.Tags.GetValueOrDefault("server.address") == "127.0.0.1" && m.Tags.GetValueOrDefault("server.port") == port.ToString(CultureInfo.InvariantCulture))];

    private static MeterListener Listen(ConcurrentQueue<Measurement> into)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "SpamFilterMilter")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var dictionary = new Dictionary<string, string?>();
            foreach (var tag in tags)
            {
                dictionary[tag.Key] = tag.Value?.ToString();
            }

            into.Enqueue(new Measurement(instrument.Name, value, dictionary));
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        return listener;
    }

    [Test]
    public async Task Messages_stage_times_failures_and_connections_are_measured_per_milter()
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var listener = Listen(measurements);
        using var milterListener = new ScriptedMilterListener();
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milterListener.Port)))
        {
            var milter = MilterScripts.RunAsync(milterListener, p => p.Code == 'E' ? [Raw.Packet('h', Raw.CString("X"), Raw.CString("y")), Raw.Packet('c')] : null);
            await plugin.FilterMessageAsync(Message());
            await milter;
            var broken = MilterScripts.RunAsync(milterListener, p => p.Code == 'R' ? [Raw.Packet('Z')] : null);
            await plugin.FilterMessageAsync(Message());
            await broken;
        }

        var mine = Of(measurements, milterListener.Port);
        var messages = mine.Where(m => m.Instrument == "spamfilter.milter.client.messages")
            .Select(m => $"{m.Tags["spamfilter.milter.verdict"]}/{m.Tags["spamfilter.milter.action"]}/{m.Tags.GetValueOrDefault("error.type")}").ToList();
        Assert.That(messages, Is.EqualTo(new[] { "string/accept/", "failure/tempfail/unexpected" }));
        var failure = mine.Single(m => m.Instrument == "spamfilter.milter.client.failures");
        Assert.That((failure.Tags["error.type"], failure.Tags["spamfilter.milter.stage"]), Is.EqualTo(("unexpected", "rcpt")));
        var stageDurations = mine.Where(m => m.Instrument == "spamfilter.milter.client.stage.duration").ToList();
        Assert.That(stageDurations.Select(m => m.Tags["spamfilter.milter.stage"]).Distinct(), Is.SupersetOf(new[] { "connect", "mail", "rcpt", "data", "header", "eoh", "body", "eom" }));
        Assert.That(stageDurations.Where(m => m.Tags.ContainsKey("error.type")).Select(m => $"{m.Tags["spamfilter.milter.stage"]}/{m.Tags["error.type"]}"),
            Is.EqualTo(new[] { "rcpt/unexpected" }), "the stage that failed is timed too, with its error");
        Assert.That(stageDurations.Select(m => m.Value), Has.All.GreaterThan(0).And.All.LessThan(10), "seconds each stage took: measured, not zero");
        Assert.That(mine.Count(m => m.Instrument == "spamfilter.milter.client.message.duration"), Is.EqualTo(2));
        Assert.That(mine.Count(m => m.Instrument == "spamfilter.milter.client.connection.create_time"), Is.EqualTo(2));
        var connections = mine.Where(m => m.Instrument == "spamfilter.milter.client.connection.count").ToList();
        Assert.That(connections.Sum(m => m.Value), Is.Zero, "every connection opened was closed");
        Assert.That(connections.Where(m => m.Value > 0).Select(m => m.Tags["spamfilter.milter.connection.state"]), Is.EqualTo(new[] { "active", "active" }));
        Assert.That(mine, Has.All.Matches<Measurement>(m => m.Tags["network.transport"] == "tcp"));
        Assert.That(mine.SelectMany(m => m.Tags.Keys).Distinct(), Is.SubsetOf(new[]
        {
            "server.address", "server.port", "network.transport", "error.type", "spamfilter.milter.stage", "spamfilter.milter.verdict",
            "spamfilter.milter.action", "spamfilter.milter.connection.state", "spamfilter.milter.endpoint.state",
        }), "no attribute with a value per message (the queue id) on a metric");
    }

    [Test]
    public async Task Each_message_is_an_activity_with_its_verdict_and_leaves_the_hosts_current_activity_alone()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "SpamFilterMilter",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(activityListener);
        using var milterListener = new ScriptedMilterListener();
        using var hostActivity = new Activity("host smtp session").Start();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milterListener.Port));
        await using var session = plugin.OpenSession();
        var milter = MilterScripts.RunAsync(milterListener, p => p.Code == 'M' ? [Raw.Packet('r')] : null);

        await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));
        await session.MailAsync("a@b");
        Assert.That(Activity.Current, Is.SameAs(hostActivity), "between stage calls the host's activity is current");
        await session.AbortAsync(); // RSET, as an SMTP server does after a refused MAIL
        await session.CloseAsync();
        await milter;

        var activity = stopped.Single(a => a.OperationName == "milter message" && (int?)a.GetTagItem("server.port") == milterListener.Port);
        Assert.That(activity.Parent, Is.SameAs(hostActivity));
        Assert.That((activity.GetTagItem("server.address"), activity.GetTagItem("network.transport")), Is.EqualTo(("127.0.0.1", "tcp")));
        Assert.That((activity.GetTagItem("spamfilter.milter.verdict"), activity.GetTagItem("spamfilter.milter.action"), activity.GetTagItem("spamfilter.milter.decided_at")),
            Is.EqualTo(("string", "reject", "mail")));
    }

    [Test]
    public async Task A_message_the_whole_message_filter_ends_early_is_counted_with_the_verdict_the_host_got()
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var listener = Listen(measurements);
        using var milterListener = new ScriptedMilterListener();
        FilterVerdict verdict;
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milterListener.Port)))
        {
            // The first recipient is refused, then the milter accepts the message at the second:
            // the verdict is a string (rejectrecipient for the first), not a default.
            var milter = MilterScripts.RunAsync(milterListener, p => p.Code == 'R'
                ? [Raw.Packet(p.Strings[0].Contains("carol", StringComparison.Ordinal) ? 'r' : 'a')]
                : null);
            var message = Message();
            verdict = await plugin.FilterMessageAsync(new MessageSubmission
            {
                Client = message.Client, MailFrom = message.MailFrom, Message = message.Message,
                Recipients = [new EnvelopeRecipient("carol@example.com"), new EnvelopeRecipient("bob@example.com")],
            });
            await milter;
        }

        Assert.That((verdict.Kind, verdict.DecidedAt), Is.EqualTo((VerdictKind.String, (FilterStage?)FilterStage.Rcpt)));
        var counted = Of(measurements, milterListener.Port).Where(m => m.Instrument == "spamfilter.milter.client.messages")
            .Select(m => $"{m.Tags["spamfilter.milter.verdict"]}/{m.Tags["spamfilter.milter.action"]}");
        Assert.That(counted, Is.EqualTo(new[] { "string/accept" }), "counted once, as the verdict the host got");
    }

    [TestCase("refused", "failure/tempfail")]
    [TestCase("reject at connect", "string/reject")]
    [TestCase("tempfail at HELO", "string/tempfail")]
    public async Task A_whole_message_decided_before_MAIL_is_counted_once_like_any_other(string what, string counted)
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var listener = Listen(measurements);
        using var milterListener = new ScriptedMilterListener();
        var port = what == "refused" ? TestPlugins.ClosedPort() : milterListener.Port;
        var milter = what == "refused" ? Task.FromResult(new List<ReceivedPacket>())
            : MilterScripts.RunAsync(milterListener, p => (what, p.Code) switch
            {
                ("reject at connect", 'C') => [Raw.Packet('r')],
                ("tempfail at HELO", 'H') => [Raw.Packet('t')],
                _ => null,
            });
        using var logs = new CapturedLogs();
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(port, "DEBUG=1\n"), logs))
        {
            var message = Message();
            var verdict = await plugin.FilterMessageAsync(new MessageSubmission
            {
                Client = message.Client, HeloName = "client.example.net", MailFrom = message.MailFrom, Recipients = message.Recipients, Message = message.Message,
            });
            Assert.That(verdict.DecidedAt, Is.EqualTo(what == "tempfail at HELO" ? FilterStage.Helo : FilterStage.Connect));
        }

        await milter;
        Assert.That(Of(measurements, port).Where(m => m.Instrument == "spamfilter.milter.client.messages")
            .Select(m => $"{m.Tags["spamfilter.milter.verdict"]}/{m.Tags["spamfilter.milter.action"]}"), Is.EqualTo(new[] { counted }), "counted once");
        Assert.That(logs.Entries.Count(e => e.EventId.Id == 2001), Is.EqualTo(1), "one DEBUG=1 line for the message");
    }
    [Test]
    public async Task A_parked_connection_counts_as_idle_until_it_is_closed()
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var listener = Listen(measurements);
        using var milterListener = new ScriptedMilterListener();
        long Count(string state) => (long)Of(measurements, milterListener.Port)
            .Where(m => m.Instrument == "spamfilter.milter.client.connection.count" && m.Tags["spamfilter.milter.connection.state"] == state).Sum(m => m.Value);
        (long Active, long Idle) parked;
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milterListener.Port, "POOL_SIZE=1\n")))
        {
            var milter = MilterScripts.RunAsync(milterListener, _ => null);
            await plugin.FilterMessageAsync(Message());
            Assert.That((await milter).Last().Code, Is.EqualTo('K'), "parked with SMFIC_QUIT_NC");
            parked = (Count("active"), Count("idle"));
        }

        Assert.That(parked, Is.EqualTo((0L, 1L)), "parked: idle, not active");
        Assert.That((Count("active"), Count("idle")), Is.EqualTo((0L, 0L)), "closed with the plug-in");
    }

    [Test]
    public async Task Connecting_and_negotiating_is_a_span_inside_the_whole_messages_span()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var activityListener = ListenToActivities(stopped);
        using var milterListener = new ScriptedMilterListener();
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milterListener.Port)))
        {
            var milter = MilterScripts.RunAsync(milterListener, _ => null);
            await plugin.FilterMessageAsync(Message());
            await milter;
        }

        var mine = stopped.Where(a => (int?)a.GetTagItem("server.port") == milterListener.Port).ToList();
        var connect = mine.Single(a => a.OperationName == "milter connect");
        var message = mine.Single(a => a.OperationName == "milter message");
        Assert.That((connect.TraceId, connect.ParentSpanId), Is.EqualTo((message.TraceId, message.SpanId)), "the connect is part of the message");
        Assert.That((connect.Kind, connect.Status), Is.EqualTo((ActivityKind.Client, ActivityStatusCode.Unset)));
        Assert.That(connect.TagObjects.ToDictionary(t => t.Key, t => t.Value), Is.EquivalentTo(new Dictionary<string, object?>
        {
            ["server.address"] = "127.0.0.1", ["server.port"] = milterListener.Port, ["network.transport"] = "tcp",
            ["network.peer.address"] = "127.0.0.1", ["network.peer.port"] = milterListener.Port, ["spamfilter.milter.protocol.version"] = 6,
        }));
        Assert.That(connect.StartTimeUtc + connect.Duration, Is.LessThanOrEqualTo(message.StartTimeUtc + message.Duration));
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task Through_SOCKS5_the_connect_spans_peer_is_the_SOCKS_server_and_its_server_the_milter(string ioMode)
    {
        // OpenTelemetry's network.peer.* name the socket's far end: the SOCKS server, where the socket connected (kept from
        // the connect: the reactor's socket is not known to .NET as connected, and its RemoteEndPoint is null).
        var stopped = new ConcurrentQueue<Activity>();
        using var activityListener = ListenToActivities(stopped);
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var socks = await SocksServer.StartMicrosocksAsync();
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milter.Port, $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nIO_MODE={ioMode}\n")))
        {
            var verdict = await plugin.FilterMessageAsync(Message());
            Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        }

        var connect = stopped.Single(a => a.OperationName == "milter connect" && (int?)a.GetTagItem("server.port") == milter.Port);
        Assert.That((connect.GetTagItem("network.peer.address"), connect.GetTagItem("network.peer.port")), Is.EqualTo(("127.0.0.1", (object)socks.Port)));
    }

    [Test]
    public async Task A_milter_that_cannot_be_reached_ends_the_connect_span_with_its_error()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var activityListener = ListenToActivities(stopped);
        var port = TestPlugins.ClosedPort();
        using var hostActivity = new Activity("host smtp session").Start();
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(port)))
        {
            await using var session = plugin.OpenSession();
            var decision = await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));
            Assert.That(decision.Failure, Is.Not.Null);
            Assert.That(Activity.Current, Is.SameAs(hostActivity), "the host's activity is still current");
        }

        var connect = stopped.Single(a => a.OperationName == "milter connect" && (int?)a.GetTagItem("server.port") == port);
        Assert.That(connect.Parent, Is.SameAs(hostActivity), "an SMTP session's connect is part of the host's span");
        Assert.That((connect.Status, connect.GetTagItem("error.type")), Is.EqualTo((ActivityStatusCode.Error, (object)"connect")));
        Assert.That(connect.StatusDescription, Does.StartWith($"can't connect to 127.0.0.1:{port}: "));
    }

    private static ActivityListener ListenToActivities(ConcurrentQueue<Activity> stopped)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "SpamFilterMilter",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
