using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Plugin;

/// <summary>
/// The milter plug-in: one configured milter endpoint. Each whole-message call and each session uses its own milter
/// connection, as sendmail and Postfix open one per SMTP session (or a parked one, with POOL_SIZE). A host loads it
/// by path through <see cref="MilterPluginFactory"/>; a host or tool that references the assembly may create it
/// directly. Thread-safe.
/// </summary>
public sealed class MilterPlugin : IReachableSpamFilterPlugin, IDisposable
{
    private readonly ILoggerFactory? _ownedLoggerFactory;

    /// <summary>1 once disposed: a container that resolved it as two services disposes it twice.</summary>
    private int _disposed;

    /// <summary>Creates the plug-in for <paramref name="options"/>. Nothing is sent to the milter until a message or session needs it.</summary>
    /// <param name="options">The milter to use and how; checked now (<see cref="MilterOptions.Validate"/>).</param>
    /// <param name="hostLoggerFactory">The host's logging; null writes the plug-in's own lines to standard error, at the level DEBUG selects.</param>
    /// <param name="meterFactory">
    /// The host's meters (dependency injection's <see cref="IMeterFactory"/>): the plug-in's meter, <c>SpamFilterMilter</c>,
    /// is made through it, so that the host's container owns it; null uses a static meter of the plug-in's own.
    /// </param>
    public MilterPlugin(MilterOptions options, ILoggerFactory? hostLoggerFactory = null, IMeterFactory? meterFactory = null)
        : this(options, hostLoggerFactory, meterFactory, slot: 0)
    {
    }

    /// <summary>Creates the plug-in for a host's slot <paramref name="slot"/>, which its log lines name (<see cref="MilterPluginFactory"/>).</summary>
    internal MilterPlugin(MilterOptions options, ILoggerFactory? hostLoggerFactory, IMeterFactory? meterFactory, int slot)
    {
        ArgumentNullException.ThrowIfNull(options);

        // Options set in code would otherwise be found wrong by every message, one failure at a time.
        options.Validate();
        var loggerFactory = hostLoggerFactory;
        if (loggerFactory is null)
        {
            _ownedLoggerFactory = loggerFactory = new StandardErrorLoggerFactory(options.DebugLogLevel);
        }

        Context = new MilterClientContext(options, loggerFactory.CreateLogger(Log.Category), meterFactory, slot);
    }

    internal MilterClientContext Context { get; }

    /// <inheritdoc />
    public string Description => "milter " + Context.EndpointName;

    /// <inheritdoc />
    public ValueTask<FilterVerdict> FilterMessageAsync(MessageSubmission message, CancellationToken cancellationToken = default) =>
        WholeMessageFilter.FilterAsync(Context, message, cancellationToken);

    /// <summary>
    /// Filters one whole message as <see cref="FilterMessageAsync(MessageSubmission, CancellationToken)"/> does, telling
    /// <paramref name="observe"/> of each stage as it is played (what the milter decided there, and how long it took).
    /// </summary>
    public ValueTask<FilterVerdict> FilterMessageAsync(MessageSubmission message, Action<StageObservation>? observe, CancellationToken cancellationToken = default) =>
        WholeMessageFilter.FilterAsync(Context, message, cancellationToken, observe);

    /// <inheritdoc />
    public IFilterSession OpenSession() => new FilterSessionAdapter(Context);

    /// <summary>
    /// Connects and negotiates, then quits: what the milter asked for.
    /// </summary>
    /// <exception cref="MilterProtocolException">
    /// The milter cannot be reached or the negotiation failed: <see cref="MilterProtocolException.Kind"/> and
    /// <see cref="MilterProtocolException.ErrorType"/> say which (an <see cref="IOException"/>, for a caller that need not know).
    /// </exception>
    public async ValueTask<MilterNegotiation> ProbeAsync(CancellationToken cancellationToken = default)
    {
        // With several servers, the one a session would get now, and the next when it fails, as a session does.
        var failover = new EndpointFailover(Context.Endpoints);
        while (failover.Next() is { } lease)
        {
            var endpoint = lease.Endpoint;
            var started = Stopwatch.GetTimestamp();
            var activity = endpoint.Telemetry.StartConnect();
            try
            {
                await using var connection = await endpoint.Connector.ConnectAsync(cancellationToken).ConfigureAwait(false);
                await using var session = new MilterSession(connection.Stream, endpoint.LogName, Context.SessionSettings, Context.Logger, connection);
                var options = await session.NegotiateAsync(cancellationToken).ConfigureAwait(false);
                endpoint.Telemetry.Connected(activity, started, connection.PeerEndPoint, options.Version);
                lease.Succeeded();
                return MilterNegotiation.From(endpoint.Name, connection.Remote, options);
            }
            catch (MilterProtocolException e)
            {
                endpoint.Telemetry.ConnectFailed(activity, started, e.ErrorType, e.Message);
                if (!failover.MoveOn(lease, e, cancellationToken))
                {
                    throw;
                }
            }
            finally
            {
                lease.Release();
                activity?.Dispose(); // ended already, unless the host cancelled
            }
        }

        throw failover.Exhausted();
    }

    /// <summary>Probes the milter (<see cref="ProbeAsync"/>) and says in one line what it negotiated.</summary>
    async ValueTask<string> IReachableSpamFilterPlugin.ReachAsync(CancellationToken cancellationToken)
    {
        var negotiated = await ProbeAsync(cancellationToken).ConfigureAwait(false);
        return negotiated.Summary();
    }

    /// <summary>Closes the connections kept for reuse (POOL_SIZE) and the plug-in's own log.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Context.Endpoints.DisposeAsync().ConfigureAwait(false);

        _ownedLoggerFactory?.Dispose();
    }

    /// <summary>
    /// Closes the connections kept for reuse and the plug-in's own log, as <see cref="DisposeAsync"/> does, for a caller
    /// that disposes synchronously (<c>using var provider = services.BuildServiceProvider()</c>).
    /// </summary>
    public void Dispose()
    {
        // Closing a parked connection is closing its socket, which does not wait for the milter: DisposeAsync finishes
        // without yielding, so this wait blocks no thread and cannot deadlock on a synchronization context.
        DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
