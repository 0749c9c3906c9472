using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

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
        var endpoint = $"127.0.0.1:{milterListener.Port}";
        await using (var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milterListener.Port)))
        {
            var milter = MilterScripts.RunAsync(milterListener, p => p.Code == 'E' ? [Raw.Packet('h', Raw.CString("X"), Raw.CString("y")), Raw.Packet('c')] : null);
            await plugin.FilterMessageAsync(Message());
            await milter;
            var broken = MilterScripts.RunAsync(milterListener, p => p.Code == 'R' ? [Raw.Packet('Z')] : null);
            await plugin.FilterMessageAsync(Message());
            await broken;
        }

        var mine = measurements.Where(m => m.Tags.GetValueOrDefault("milter") == endpoint).ToList();
        var messages = mine.Where(m => m.Instrument == "spamfiltermilter.messages").Select(m => $"{m.Tags["verdict"]}/{m.Tags["action"]}").ToList();
        Assert.That(messages, Is.EqualTo(new[] { "string/accept", "failure/tempfail" }));
        var failure = mine.Single(m => m.Instrument == "spamfiltermilter.failures");
        Assert.That((failure.Tags["cause"], failure.Tags["stage"]), Is.EqualTo(("unexpected", "rcpt")));
        var stages = mine.Where(m => m.Instrument == "spamfiltermilter.stage.duration").Select(m => m.Tags["stage"]).Distinct().ToList();
        Assert.That(stages, Is.SupersetOf(new[] { "mail", "rcpt", "data", "header", "eoh", "body", "eom" }));
        Assert.That(mine.Where(m => m.Instrument == "spamfiltermilter.stage.duration").Select(m => m.Value), Has.All.GreaterThan(0).And.All.LessThan(10), "seconds each stage took: measured, not zero");
        Assert.That(mine.Count(m => m.Instrument == "spamfiltermilter.message.duration"), Is.EqualTo(2));
        var connections = mine.Where(m => m.Instrument == "spamfiltermilter.connections.open").Select(m => m.Value).ToList();
        Assert.That(connections.Sum(), Is.Zero, "every connection opened was closed");
        Assert.That(connections.Count(v => v > 0), Is.EqualTo(2));
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

        var activity = stopped.Single(a => (string?)a.GetTagItem("milter") == $"127.0.0.1:{milterListener.Port}");
        Assert.That(activity.OperationName, Is.EqualTo("milter message"));
        Assert.That(activity.Parent, Is.SameAs(hostActivity));
        Assert.That((activity.GetTagItem("verdict"), activity.GetTagItem("action"), activity.GetTagItem("decided_at")), Is.EqualTo(("string", "reject", "mail")));
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
        var counted = measurements.Where(m => m.Instrument == "spamfiltermilter.messages" && m.Tags.GetValueOrDefault("milter") == $"127.0.0.1:{milterListener.Port}")
            .Select(m => $"{m.Tags["verdict"]}/{m.Tags["action"]}");
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
        var endpoint = $"127.0.0.1:{port}";
        Assert.That(measurements.Where(m => m.Instrument == "spamfiltermilter.messages" && m.Tags.GetValueOrDefault("milter") == endpoint)
            .Select(m => $"{m.Tags["verdict"]}/{m.Tags["action"]}"), Is.EqualTo(new[] { counted }), "counted once");
        Assert.That(logs.Entries.Count(e => e.EventId.Id == 2001), Is.EqualTo(1), "one DEBUG=1 line for the message");
    }
}
