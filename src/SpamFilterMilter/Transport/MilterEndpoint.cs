using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Transport;

/// <summary>
/// One milter server of a slot, with everything that is its own: the connector, the parked connections (POOL_SIZE),
/// the telemetry (<c>server.address</c>, <c>server.port</c>), the circuit breaker and the count of sessions using it
/// now. Its breaker's changes of state are logged (1004 to 1006) and counted
/// (<c>spamfilter.milter.client.endpoint.count</c>) once each.
/// </summary>
internal sealed class MilterEndpoint : IAsyncDisposable
{
    private readonly ILogger _logger;
    private int _outstanding;
    private string _lastCause = string.Empty;

    /// <param name="options">The slot's options (timeouts, pool, breaker).</param>
    /// <param name="server">This server, one of those HOST names.</param>
    /// <param name="logger">Where the plug-in logs.</param>
    /// <param name="metrics">The plug-in's instruments.</param>
    /// <param name="time">The breaker's clock.</param>
    /// <param name="slot">The host's slot the plug-in serves, named in log lines; 0: none.</param>
    public MilterEndpoint(MilterOptions options, MilterServer server, ILogger logger, MilterMetrics metrics, TimeProvider time, int slot = 0)
    {
        _logger = logger;
        Name = server.Name;
        LogName = LogNameOf(Name, slot);
        Telemetry = MilterConnector.TelemetryFor(server, metrics);
        Connector = new MilterConnector(options, server, logger, telemetry: Telemetry, logName: LogName);
        Pool = options.PoolSize > 0 ? new ConnectionPool(options.PoolSize, options.PoolIdleTimeout) : null;
        Threshold = options.EffectiveBreakerThreshold;
        Breaker = new CircuitBreaker(Threshold, options.BreakerBackoff, options.BreakerMaxBackoff, time, Changed);
        Telemetry.CountEndpoint(StateName(BreakerState.Closed), +1);
    }

    /// <summary>The server (<c>host:port</c>, <c>unix:/path</c>).</summary>
    public string Name { get; }

    /// <summary>The server as log lines name it: <see cref="Name"/>, and the host's slot when it gave one (<c>127.0.0.1:8890 (slot 2)</c>).</summary>
    public string LogName { get; }

    /// <summary>A milter's name as log lines give it: with the host's slot when there is one (<paramref name="slot"/> &gt; 0).</summary>
    public static string LogNameOf(string name, int slot) => slot > 0 ? $"{name} (slot {slot})" : name;

    public MilterConnector Connector { get; }

    /// <summary>Parked connections to this server (POOL_SIZE); null when every session opens its own.</summary>
    public ConnectionPool? Pool { get; }

    public MilterTelemetry Telemetry { get; }

    public CircuitBreaker Breaker { get; }

    /// <summary>BREAKER_THRESHOLD in force (0: the breaker never opens).</summary>
    public int Threshold { get; }

    /// <summary>Sessions that hold this server now: what "least outstanding" compares.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Whether a failure of this kind says something about the server (not about one message, or the host).</summary>
    public static bool CountsAgainstServer(MilterFailureKind kind) => kind is MilterFailureKind.ConnectFailed or MilterFailureKind.Timeout
        or MilterFailureKind.Closed or MilterFailureKind.Network or MilterFailureKind.Socks or MilterFailureKind.Negotiation
        or MilterFailureKind.Malformed or MilterFailureKind.Unexpected;

    internal void Hold() => Interlocked.Increment(ref _outstanding);

    internal void Let() => Interlocked.Decrement(ref _outstanding);

    /// <summary>The server failed (<paramref name="cause"/>); <paramref name="probe"/>: the probe did.</summary>
    internal void Failed(bool probe, string cause)
    {
        Volatile.Write(ref _lastCause, cause);
        Breaker.Failed(probe);
    }

    public async ValueTask DisposeAsync()
    {
        Telemetry.CountEndpoint(StateName(Breaker.State), -1); // a plug-in instance replaced (a reload) leaves no count behind
        if (Pool is { } pool)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The breaker changed state: one log line and the count moved, under the breaker's lock.</summary>
    private void Changed(BreakerState from, BreakerState to, TimeSpan backoff)
    {
        Telemetry.CountEndpoint(StateName(from), -1);
        Telemetry.CountEndpoint(StateName(to), +1);
        switch (to)
        {
            case BreakerState.Open:
                Log.OutOfService(_logger, LogName, backoff.TotalSeconds,
                    from == BreakerState.HalfOpen ? "a failed probe" : $"{Threshold} consecutive failures", Volatile.Read(ref _lastCause));
                break;
            case BreakerState.HalfOpen:
                Log.Probing(_logger, LogName);
                break;
            default:
                Log.BackInService(_logger, LogName);
                break;
        }
    }

    private static string StateName(BreakerState state) => state switch
    {
        BreakerState.Closed => MilterTelemetry.InService,
        BreakerState.Open => MilterTelemetry.OutOfService,
        _ => MilterTelemetry.Probing,
    };
}
