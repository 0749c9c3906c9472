using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SpamFilterMilter.Diagnostics;

/// <summary>
/// Metrics and traces, for OpenTelemetry or any <see cref="MeterListener"/> / <see cref="ActivityListener"/>.
/// Meter and activity source are both named <c>SpamFilterMilter</c>; every measurement carries the
/// milter endpoint as <c>milter</c>. With no listener attached a measurement costs one check.
/// <list type="table">
/// <item><term>spamfiltermilter.messages</term><description>Counter: messages given a verdict; tags <c>verdict</c> (default, string, failure) and <c>action</c> (accept, reject, tempfail, discard).</description></item>
/// <item><term>spamfiltermilter.failures</term><description>Counter: milter failures; tags <c>cause</c> (connect, timeout, closed, network, malformed, unexpected, negotiation, limit, socks, cancelled) and <c>stage</c>.</description></item>
/// <item><term>spamfiltermilter.stage.duration</term><description>Histogram, seconds: time the milter took per stage; tag <c>stage</c> (connect, helo, mail, rcpt, data, header, eoh, body, eom, unknown).</description></item>
/// <item><term>spamfiltermilter.message.duration</term><description>Histogram, seconds: from MAIL to the verdict.</description></item>
/// <item><term>spamfiltermilter.connections.open</term><description>UpDownCounter: milter connections open now (parked ones included).</description></item>
/// </list>
/// Activities: <c>milter message</c> from MAIL to the verdict (tags <c>milter</c>, <c>queue_id</c>,
/// <c>verdict</c>, <c>action</c>, <c>decided_at</c>; error status on failure).
/// </summary>
internal static class MilterTelemetry
{
    public const string Name = "SpamFilterMilter";

    private static readonly string? Version = typeof(MilterTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly Meter Meter = new(Name, Version);

    public static readonly ActivitySource ActivitySource = new(Name, Version);

    public static readonly Counter<long> Messages =
        Meter.CreateCounter<long>("spamfiltermilter.messages", "{message}", "Messages given a verdict, by verdict kind and action.");

    public static readonly Counter<long> Failures =
        Meter.CreateCounter<long>("spamfiltermilter.failures", "{failure}", "Milter failures, by cause and protocol stage.");

    public static readonly Histogram<double> StageDuration =
        Meter.CreateHistogram<double>("spamfiltermilter.stage.duration", "s", "Time the milter took over one stage.");

    public static readonly Histogram<double> MessageDuration =
        Meter.CreateHistogram<double>("spamfiltermilter.message.duration", "s", "Time from MAIL to the verdict.");

    public static readonly UpDownCounter<long> OpenConnections =
        Meter.CreateUpDownCounter<long>("spamfiltermilter.connections.open", "{connection}", "Milter connections open now.");

    public static void RecordStage(string milter, string stage, long startedAt)
    {
        if (StageDuration.Enabled)
        {
            StageDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, new("milter", milter), new("stage", stage));
        }
    }

    public static void RecordFailure(string milter, string cause, string stage)
    {
        if (Failures.Enabled)
        {
            Failures.Add(1, new("milter", milter), new("cause", cause), new("stage", stage));
        }
    }

    public static void RecordMessage(string milter, string verdict, string action, long startedAt)
    {
        if (Messages.Enabled)
        {
            Messages.Add(1, new("milter", milter), new("verdict", verdict), new("action", action));
        }

        if (MessageDuration.Enabled && startedAt != 0)
        {
            MessageDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, new KeyValuePair<string, object?>("milter", milter));
        }
    }

    public static void ConnectionOpened(string milter) => OpenConnections.Add(1, new KeyValuePair<string, object?>("milter", milter));

    public static void ConnectionClosed(string milter) => OpenConnections.Add(-1, new KeyValuePair<string, object?>("milter", milter));
}
