using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Diagnostics;

/// <summary>
/// The plug-in's metrics as the OpenTelemetry .NET SDK exports them (the in-memory exporter), with its meter made
/// through the host's <see cref="IMeterFactory"/>: the durations' advised buckets, where the SDK's default buckets
/// would put every milter latency into one, and the attributes of OpenTelemetry's conventions.
/// </summary>
[NonParallelizable]
public class OpenTelemetryTests : TempFolderTest
{
    /// <summary>Latencies a milter shows, in seconds: a header on loopback, a small message, a DNS lookup, a content scan, a slow one.</summary>
    private static readonly double[] Latencies = [0.00008, 0.0003, 0.002, 0.04, 0.7, 3];

    [Test]
    public void With_the_SDKs_default_buckets_every_milter_latency_lands_in_one_bucket_with_the_advised_ones_each_in_its_own()
    {
        var exported = new List<MetricSnapshot>();
        using var meterFactory = new TestMeterFactory();
        using var plain = new Meter("SpamFilterMilter.Tests.NoAdvice");
        var advised = MilterMetrics.For(meterFactory).StageDuration;
        using (var provider = Sdk.CreateMeterProviderBuilder().AddMeter(MilterMetrics.MeterName, plain.Name).AddInMemoryExporter(exported).Build())
        {
            var unadvised = plain.CreateHistogram<double>(advised.Name, advised.Unit, advised.Description);
            foreach (var seconds in Latencies)
            {
                advised.Record(seconds);
                unadvised.Record(seconds);
            }

            provider.ForceFlush();
        }

        Assert.That(Buckets(exported.Last(m => m.MeterName == plain.Name)), Is.EqualTo(new[] { (5.0, Latencies.Length) }),
            "the SDK's default boundaries (0, 5, 10, 25 … 10000) are made for milliseconds: in seconds all land at or below 5");
        var buckets = Buckets(exported.Last(m => m.MeterName == MilterMetrics.MeterName && m.Name == advised.Name));
        Assert.That(buckets.Select(b => b.Count), Is.EqualTo(Enumerable.Repeat(1, Latencies.Length)), string.Join(" ", buckets));
        Assert.That(buckets.Select(b => b.Bound), Is.EqualTo(new[] { 0.0001, 0.0005, 0.0025, 0.05, 1, 5 }));
    }

    [Test]
    public async Task A_message_is_exported_with_the_conventions_attributes_and_the_advised_buckets()
    {
        var exported = new List<MetricSnapshot>();
        using var meterFactory = new TestMeterFactory();
        using var milterListener = new ScriptedMilterListener();
        using (var provider = Sdk.CreateMeterProviderBuilder().AddMeter(MilterMetrics.MeterName).AddInMemoryExporter(exported).Build())
        {
            var options = MilterOptions.Load(Folder.Write("milter.opt", TestPlugins.Loopback(milterListener.Port)));
            await using (var plugin = new MilterPlugin(options, NullLoggerFactory.Instance, meterFactory))
            {
                var milter = MilterScripts.RunAsync(milterListener, p => p.Code == 'E' ? [Raw.Packet('h', Raw.CString("X"), Raw.CString("y")), Raw.Packet('c')] : null);
                await plugin.FilterMessageAsync(new MessageSubmission
                {
                    Client = ClientInfo.Tcp(IPAddress.Loopback, 25),
                    MailFrom = "alice@example.org",
                    Recipients = [new EnvelopeRecipient("bob@example.com")],
                    Message = new MemoryStream("Subject: t\r\n\r\nbody\r\n"u8.ToArray()),
                });
                await milter;
            }

            provider.ForceFlush();
        }

        var endpoint = new Dictionary<string, object?> { ["server.address"] = "127.0.0.1", ["server.port"] = milterListener.Port, ["network.transport"] = "tcp" };
        var last = exported.GroupBy(m => m.Name).ToDictionary(g => g.Key, g => g.Last());
        Assert.That(last.Keys, Is.SupersetOf(new[]
        {
            "spamfilter.milter.client.messages", "spamfilter.milter.client.stage.duration", "spamfilter.milter.client.message.duration",
            "spamfilter.milter.client.connection.create_time", "spamfilter.milter.client.connection.count",
        }));
        var stages = Points(last["spamfilter.milter.client.stage.duration"]).Where(p => Matches(p, endpoint)).ToList();
        Assert.That(stages.Select(p => Tags(p)["spamfilter.milter.stage"]), Is.SupersetOf(new[] { "connect", "mail", "rcpt", "data", "header", "eoh", "body", "eom" }));
        foreach (var point in stages)
        {
            var bounds = new List<double>();
            foreach (var bucket in point.GetHistogramBuckets())
            {
                bounds.Add(bucket.ExplicitBound);
            }

            Assert.That(bounds, Is.EqualTo(MilterMetrics.DurationBuckets.Append(double.PositiveInfinity)), "the advised boundaries, as the SDK took them");
        }

        var message = Points(last["spamfilter.milter.client.messages"]).Single(p => Matches(p, endpoint));
        Assert.That(Tags(message), Is.EquivalentTo(new Dictionary<string, object?>(endpoint) { ["spamfilter.milter.verdict"] = "string", ["spamfilter.milter.action"] = "accept" }));
        Assert.That(message.GetSumLong(), Is.EqualTo(1));
        var connections = Points(last["spamfilter.milter.client.connection.count"]).Where(p => Matches(p, endpoint)).ToList();
        Assert.That(connections.Select(p => (Tags(p)["spamfilter.milter.connection.state"], p.GetSumLong())), Is.EqualTo(new[] { ((object?)"active", 0L) }),
            "one connection was active, and is closed");
        Assert.That(meterFactory.Meters.Select(m => m.Name), Is.EqualTo(new[] { MilterMetrics.MeterName }), "the meter was made through the host's factory");
    }

    [Test]
    public async Task A_plug_in_given_a_meter_factory_records_on_its_meter_and_not_on_its_own()
    {
        using var meterFactory = new TestMeterFactory();
        var factoryMeasurements = 0;
        var sharedMeasurements = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MilterMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        using var milterListener = new ScriptedMilterListener();
        var port = milterListener.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "server.port" && tag.Value?.ToString() == port)
                {
                    Interlocked.Increment(ref instrument.Meter.Scope == meterFactory ? ref factoryMeasurements : ref sharedMeasurements);
                }
            }
        });
        listener.Start();

        var factory = new MilterPluginFactory();
        await using (var plugin = factory.Create(new SpamFilterPluginContext
        {
            ConfigFilePath = Folder.Write("milter.opt", TestPlugins.Loopback(milterListener.Port)),
            LoggerFactory = NullLoggerFactory.Instance,
            MeterFactory = meterFactory,
        }))
        {
            var milter = MilterScripts.RunAsync(milterListener, _ => null);
            await plugin.FilterMessageAsync(new MessageSubmission
            {
                MailFrom = "alice@example.org",
                Recipients = [new EnvelopeRecipient("bob@example.com")],
                Message = new MemoryStream("Subject: t\r\n\r\nbody\r\n"u8.ToArray()),
            });
            await milter;
        }

        Assert.That((factoryMeasurements > 0, sharedMeasurements), Is.EqualTo((true, 0)));
        var first = MilterMetrics.For(meterFactory);
        Assert.That(MilterMetrics.For(meterFactory), Is.SameAs(first), "plug-ins sharing a factory share its instruments");
        Assert.That(MilterMetrics.For(null), Is.SameAs(MilterMetrics.Shared), "without a factory: the plug-in's own meter");
    }

    private static List<MetricPoint> Points(MetricSnapshot metric) => [.. metric.MetricPoints];

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>();
        foreach (var tag in point.Tags)
        {
            tags[tag.Key] = tag.Value;
        }

        return tags;
    }

    private static bool Matches(MetricPoint point, Dictionary<string, object?> endpoint)
    {
        var tags = Tags(point);
        return endpoint.All(e => tags.TryGetValue(e.Key, out var value) && Equals(value, e.Value));
    }

    /// <summary>The buckets that counted something: their upper bound and count.</summary>
    private static List<(double Bound, int Count)> Buckets(MetricSnapshot metric)
    {
        var buckets = new List<(double, int)>();
        foreach (var point in metric.MetricPoints)
        {
            foreach (var bucket in point.GetHistogramBuckets())
            {
                if (bucket.BucketCount > 0)
                {
                    buckets.Add((bucket.ExplicitBound, (int)bucket.BucketCount));
                }
            }
        }

        return buckets;
    }
}
