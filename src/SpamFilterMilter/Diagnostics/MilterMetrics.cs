using System.Diagnostics.Metrics;

namespace SpamFilterMilter.Diagnostics;

/// <summary>
/// The plug-in's instruments, on one <see cref="Meter"/> named <c>SpamFilterMilter</c>: made through the host's
/// <see cref="IMeterFactory"/> when it gives one (its dependency-injection container then owns the meter, and its
/// listeners see only its own), otherwise on one static meter of the plug-in's own. Names, units and attributes follow
/// OpenTelemetry's semantic conventions (docs/operations.md lists them); durations advise bucket boundaries that suit
/// a milter (<see cref="DurationBuckets"/>). With no listener attached a measurement costs one check.
/// </summary>
internal sealed class MilterMetrics
{
    /// <summary>The meter's name, for <c>AddMeter("SpamFilterMilter")</c>.</summary>
    public const string MeterName = "SpamFilterMilter";

    /// <summary>
    /// The bucket boundaries every duration histogram advises, in seconds: from 100 µs (a milter on loopback answers a
    /// header in tens of microseconds, a whole transaction in under a millisecond) to 300 s (MESSAGE_TIMEOUT's
    /// default). OpenTelemetry's default boundaries (0, 5, 10, 25 … 10000) are made for milliseconds: in seconds every
    /// milter latency but a timeout would land in the one bucket up to 5.
    /// </summary>
    public static IReadOnlyList<double> DurationBuckets { get; } =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private static readonly Lazy<MilterMetrics> SharedMetrics = new(() => new MilterMetrics(new Meter(MeterName, MilterTelemetry.Version)));

    // One set of instruments per meter: a factory gives every plug-in it creates the same meter (MeterFactory caches by
    // name, version and tags), and each instrument must be made once on it.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Meter, MilterMetrics> ByMeter = [];

    private MilterMetrics(Meter meter)
    {
        Meter = meter;
        var durations = new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets };
        Messages = meter.CreateCounter<long>("spamfilter.milter.client.messages", "{message}",
            "Messages given a verdict, by verdict kind and action.");
        Failures = meter.CreateCounter<long>("spamfilter.milter.client.failures", "{failure}",
            "Milter failures, by error type and protocol stage.");
        StageDuration = meter.CreateHistogram("spamfilter.milter.client.stage.duration", "s",
            "Time the milter took over one stage.", tags: null, durations);
        MessageDuration = meter.CreateHistogram("spamfilter.milter.client.message.duration", "s",
            "Time from MAIL (or the start of a whole-message call) to the verdict.", tags: null, durations);
        ConnectionCreateTime = meter.CreateHistogram("spamfilter.milter.client.connection.create_time", "s",
            "Time to open a milter connection and negotiate on it.", tags: null, durations);
        Connections = meter.CreateUpDownCounter<long>("spamfilter.milter.client.connection.count", "{connection}",
            "Milter connections open now, by state: active (a session uses it) or idle (parked, POOL_SIZE).");
        Endpoints = meter.CreateUpDownCounter<long>("spamfilter.milter.client.endpoint.count", "{endpoint}",
            "Milter servers of each slot, by circuit breaker state: closed (in service), open (out of service) or half_open (being probed).");
    }

    /// <summary>The plug-in's own meter's instruments, for a plug-in created without an <see cref="IMeterFactory"/>.</summary>
    public static MilterMetrics Shared => SharedMetrics.Value;

    /// <summary>The meter all instruments are on.</summary>
    public Meter Meter { get; }

    /// <summary><c>spamfilter.milter.client.messages</c>: messages given a verdict.</summary>
    public Counter<long> Messages { get; }

    /// <summary><c>spamfilter.milter.client.failures</c>: milter failures.</summary>
    public Counter<long> Failures { get; }

    /// <summary><c>spamfilter.milter.client.stage.duration</c>: the milter's time over one stage.</summary>
    public Histogram<double> StageDuration { get; }

    /// <summary><c>spamfilter.milter.client.message.duration</c>: from MAIL to the verdict.</summary>
    public Histogram<double> MessageDuration { get; }

    /// <summary><c>spamfilter.milter.client.connection.create_time</c>: connecting and negotiating.</summary>
    public Histogram<double> ConnectionCreateTime { get; }

    /// <summary><c>spamfilter.milter.client.connection.count</c>: connections open now, by state.</summary>
    public UpDownCounter<long> Connections { get; }

    /// <summary><c>spamfilter.milter.client.endpoint.count</c>: servers by circuit breaker state.</summary>
    public UpDownCounter<long> Endpoints { get; }

    /// <summary>The instruments on the meter <paramref name="factory"/> makes, or the plug-in's own when there is no factory.</summary>
    public static MilterMetrics For(IMeterFactory? factory) =>
        factory is null ? Shared : ByMeter.GetValue(factory.Create(new MeterOptions(MeterName) { Version = MilterTelemetry.Version }), meter => new MilterMetrics(meter));
}
