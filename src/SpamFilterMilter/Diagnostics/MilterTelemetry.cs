using System.Diagnostics;
using System.Net;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Diagnostics;

/// <summary>
/// What one milter endpoint records, for OpenTelemetry or any <see cref="System.Diagnostics.Metrics.MeterListener"/>
/// and <see cref="ActivityListener"/>, by OpenTelemetry's semantic conventions: every measurement and span carries
/// the endpoint as <c>server.address</c>, <c>server.port</c> (TCP only) and <c>network.transport</c> (<c>tcp</c>,
/// <c>unix</c>); a failure carries <c>error.type</c>; the plug-in's own attributes are namespaced
/// <c>spamfilter.milter.*</c>. Metric attributes have few values each (a stage, a verdict kind, an action, an error
/// type); what is different for every message (the queue id) goes on spans and log lines only. The instruments are
/// <see cref="MilterMetrics"/>'s; the activity source is one, named <c>SpamFilterMilter</c>. docs/operations.md lists
/// every instrument, attribute and span.
/// </summary>
internal sealed class MilterTelemetry
{
    /// <summary>The activity source's name, for <c>AddSource("SpamFilterMilter")</c>.</summary>
    public const string SourceName = "SpamFilterMilter";

    /// <summary>The span from connecting to the end of the negotiation.</summary>
    public const string ConnectSpan = "milter connect";

    /// <summary>The span from MAIL (or the start of a whole-message call) to the verdict.</summary>
    public const string MessageSpan = "milter message";

    // OpenTelemetry's own attributes.
    public const string ServerAddress = "server.address";
    public const string ServerPort = "server.port";
    public const string NetworkTransport = "network.transport";
    public const string NetworkPeerAddress = "network.peer.address";
    public const string NetworkPeerPort = "network.peer.port";
    public const string ErrorType = "error.type";

    // The plug-in's own attributes.
    public const string Stage = "spamfilter.milter.stage";
    public const string Verdict = "spamfilter.milter.verdict";
    public const string Action = "spamfilter.milter.action";
    public const string ConnectionState = "spamfilter.milter.connection.state";
    public const string EndpointState = "spamfilter.milter.endpoint.state";
    public const string QueueId = "spamfilter.milter.queue_id";
    public const string DecidedAt = "spamfilter.milter.decided_at";
    public const string Aborted = "spamfilter.milter.aborted";
    public const string ProtocolVersion = "spamfilter.milter.protocol.version";

    /// <summary>A connection a session uses.</summary>
    public const string Active = "active";

    /// <summary>A connection parked for reuse (POOL_SIZE).</summary>
    public const string Idle = "idle";

    /// <summary>An endpoint in service (its circuit breaker closed).</summary>
    public const string InService = "closed";

    /// <summary>An endpoint out of service for its back-off (its circuit breaker open).</summary>
    public const string OutOfService = "open";

    /// <summary>An endpoint one message is probing (its circuit breaker half-open).</summary>
    public const string Probing = "half_open";

    /// <summary>The plug-in's version, for the meter and the activity source.</summary>
    internal static readonly string? Version = typeof(MilterTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly ActivitySource ActivitySource = new(SourceName, Version);

    private readonly string _address;
    private readonly object? _port; // boxed once
    private readonly string? _transport;

    /// <param name="metrics">The instruments to record on.</param>
    /// <param name="address">The milter's host name or address as configured (HOST), or its UNIX-domain socket's path.</param>
    /// <param name="port">Its TCP port; null for a UNIX-domain socket.</param>
    public MilterTelemetry(MilterMetrics metrics, string address, int? port)
        : this(metrics, address, port, port is null ? "unix" : "tcp")
    {
    }

    private MilterTelemetry(MilterMetrics metrics, string address, int? port, string? transport)
    {
        Metrics = metrics;
        _address = address;
        _port = port;
        _transport = transport;
    }

    /// <summary>
    /// What a slot of several servers records when no server could take a message: <c>server.address</c> is HOST as
    /// configured (the list), without a port or a transport.
    /// </summary>
    public static MilterTelemetry ForServers(MilterMetrics metrics, string host) => new(metrics, host, port: null, transport: null);

    /// <summary>The instruments recorded on.</summary>
    public MilterMetrics Metrics { get; }

    /// <summary>The time the milter took over <paramref name="stage"/>, which failed with <paramref name="errorType"/> unless null.</summary>
    public void RecordStage(FilterStage stage, long startedAt, string? errorType = null)
    {
        if (Metrics.StageDuration.Enabled)
        {
            var tags = Endpoint();
            tags.Add(Stage, stage.ToName());
            AddError(ref tags, errorType);
            Metrics.StageDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, tags);
        }
    }

    /// <summary>A milter failure, at <paramref name="stage"/>.</summary>
    public void RecordFailure(string errorType, FilterStage stage)
    {
        if (Metrics.Failures.Enabled)
        {
            var tags = Endpoint();
            tags.Add(ErrorType, errorType);
            tags.Add(Stage, stage.ToName());
            Metrics.Failures.Add(1, tags);
        }
    }

    /// <summary>A message's verdict: its kind, its action, the failure's type for a failure verdict, and the time since <paramref name="startedAt"/>.</summary>
    public void RecordMessage(string verdict, string action, string? errorType, long startedAt)
    {
        if (!Metrics.Messages.Enabled && !Metrics.MessageDuration.Enabled)
        {
            return;
        }

        var tags = Endpoint();
        tags.Add(Verdict, verdict);
        tags.Add(Action, action);
        AddError(ref tags, errorType);
        Metrics.Messages.Add(1, tags);
        if (startedAt != 0)
        {
            Metrics.MessageDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, tags);
        }
    }

    /// <summary>Moves the count of connections in <paramref name="state"/> (<see cref="Active"/>, <see cref="Idle"/>) by <paramref name="delta"/>.</summary>
    public void CountConnection(string state, int delta)
    {
        var tags = Endpoint();
        tags.Add(ConnectionState, state);
        Metrics.Connections.Add(delta, tags);
    }

    /// <summary>Moves the count of endpoints in <paramref name="state"/> (<see cref="InService"/>, <see cref="OutOfService"/>, <see cref="Probing"/>) by <paramref name="delta"/>.</summary>
    public void CountEndpoint(string state, int delta)
    {
        var tags = Endpoint();
        tags.Add(EndpointState, state);
        Metrics.Endpoints.Add(delta, tags);
    }

    /// <summary>
    /// Starts the <see cref="ConnectSpan"/> span (null when nobody listens), a child of <paramref name="parent"/> or, when
    /// that is empty, of the current activity; it does not become the current activity.
    /// </summary>
    public Activity? StartConnect(ActivityContext parent = default)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }

        var previous = Activity.Current;
        var activity = ActivitySource.StartActivity(ConnectSpan, ActivityKind.Client, parent);
        Activity.Current = previous;
        AddEndpoint(activity);
        return activity;
    }

    /// <summary>
    /// A connection was opened (to <paramref name="peer"/>, the socket's far end) and negotiated (protocol
    /// <paramref name="version"/>) since <paramref name="startedAt"/>; ends <paramref name="activity"/>.
    /// </summary>
    public void Connected(Activity? activity, long startedAt, EndPoint? peer, uint version)
    {
        RecordCreateTime(startedAt, errorType: null);
        if (activity is null)
        {
            return;
        }

        if (peer is IPEndPoint ip)
        {
            activity.SetTag(NetworkPeerAddress, ip.Address.ToString()).SetTag(NetworkPeerPort, ip.Port);
        }

        activity.SetTag(ProtocolVersion, (int)version).Dispose();
    }

    /// <summary>Connecting or negotiating failed (<paramref name="errorType"/>, <paramref name="cause"/>); ends <paramref name="activity"/> with an error status.</summary>
    public void ConnectFailed(Activity? activity, long startedAt, string errorType, string cause)
    {
        RecordCreateTime(startedAt, errorType);
        activity?.SetTag(ErrorType, errorType).SetStatus(ActivityStatusCode.Error, cause).Dispose();
    }

    /// <summary>Puts the endpoint's attributes on <paramref name="activity"/>.</summary>
    public void AddEndpoint(Activity? activity)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(ServerAddress, _address);
        if (_transport is not null)
        {
            activity.SetTag(NetworkTransport, _transport);
        }

        if (_port is not null)
        {
            activity.SetTag(ServerPort, _port);
        }
    }

    private void RecordCreateTime(long startedAt, string? errorType)
    {
        if (Metrics.ConnectionCreateTime.Enabled)
        {
            var tags = Endpoint();
            AddError(ref tags, errorType);
            Metrics.ConnectionCreateTime.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, tags);
        }
    }

    /// <summary>The endpoint's attributes, to which a measurement adds its own (a <see cref="TagList"/> holds eight without allocating).</summary>
    private TagList Endpoint()
    {
        var tags = new TagList { { ServerAddress, _address } };
        if (_transport is not null)
        {
            tags.Add(NetworkTransport, _transport);
        }

        if (_port is not null)
        {
            tags.Add(ServerPort, _port);
        }

        return tags;
    }

    private static void AddError(ref TagList tags, string? errorType)
    {
        if (errorType is not null)
        {
            tags.Add(ErrorType, errorType);
        }
    }
}
