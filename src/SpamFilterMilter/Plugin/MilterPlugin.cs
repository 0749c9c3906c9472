using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;
using SpamFilterMilter.Protocol;
using SpamFilterMilter.Transport;

[assembly: SpamFilterPlugin(typeof(MilterPluginFactory))]

namespace SpamFilterMilter.Plugin;

/// <summary>The entry point the host finds through <see cref="SpamFilterPluginAttribute"/>.</summary>
public sealed class MilterPluginFactory : ISpamFilterPluginFactory
{
    /// <inheritdoc />
    public ISpamFilterPlugin Create(SpamFilterPluginContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var options = MilterOptions.Load(context.ConfigFilePath);
        return new MilterPlugin(options, context.LoggerFactory);
    }
}

/// <summary>What every session of one plug-in instance shares: options, connector, logger, limits.</summary>
internal sealed class MilterPluginCore
{
    public MilterPluginCore(MilterOptions options, ILogger logger)
    {
        Options = options;
        Logger = logger;
        EndpointName = options.EndpointName;
        Connector = new MilterConnector(options, logger);
        Pool = options.PoolSize > 0 ? new ConnectionPool(options.PoolSize, options.PoolIdleTimeout) : null;
        SessionSettings = new MilterSessionSettings
        {
            Timeout = options.Timeout,
            MessageTimeout = options.MessageTimeout,
            MaxRepliesPerEvent = options.MaxReplies,
            MaxEditsPerMessage = options.MaxEdits,
            MaxReplyPacket = options.MaxPacket,
            MaxReplacementBodyBytes = options.MaxReplacementBody,
            MaxReplyText = options.MaxReplyText,
            LogTraffic = options.Debug >= 2,
            BlockingIo = options.IoMode == IoMode.Blocking,
            OfferedProtocol = Negotiation.OfferedProtocol | options.OfferMds switch
            {
                OfferMds.Size256K => ProtocolFlags.MaxDataSize256K,
                OfferMds.Size1M => ProtocolFlags.MaxDataSize1M,
                _ => ProtocolFlags.None,
            },
        };
    }

    public MilterOptions Options { get; }

    public ILogger Logger { get; }

    public string EndpointName { get; }

    public MilterConnector Connector { get; }

    /// <summary>Parked connections (POOL_SIZE); null when every session opens its own.</summary>
    public ConnectionPool? Pool { get; }

    public MilterSessionSettings SessionSettings { get; }
}

/// <summary>
/// The milter plug-in: one configured milter endpoint. Each whole-message call and each session uses
/// its own milter connection, as sendmail and Postfix open one per SMTP session.
/// </summary>
internal sealed class MilterPlugin : ISpamFilterPlugin
{
    private readonly ILoggerFactory? _ownedLoggerFactory;

    public MilterPlugin(MilterOptions options, ILoggerFactory? hostLoggerFactory)
    {
        var loggerFactory = hostLoggerFactory;
        if (loggerFactory is null)
        {
            _ownedLoggerFactory = loggerFactory = CreateConsoleLoggerFactory(options.Debug);
        }

        Core = new MilterPluginCore(options, loggerFactory.CreateLogger(Log.Category));
    }

    internal MilterPluginCore Core { get; }

    public string Description => "milter " + Core.EndpointName;

    public ValueTask<FilterVerdict> FilterMessageAsync(MessageSubmission message, CancellationToken cancellationToken = default) =>
        WholeMessageFilter.FilterAsync(Core, message, cancellationToken);

    public IFilterSession OpenSession() => new MilterFilterSession(Core);

    public async ValueTask DisposeAsync()
    {
        if (Core.Pool is { } pool)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }

        _ownedLoggerFactory?.Dispose();
    }

    /// <summary>
    /// The logger used when the host brings none: single-line console output on standard error, at
    /// the level DEBUG selects (0 warnings, 1 one line per message, 2 every packet).
    /// </summary>
    internal static ILoggerFactory CreateConsoleLoggerFactory(int debug) => LoggerFactory.Create(builder => builder
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        })
        .AddFilter<ConsoleLoggerProvider>(Log.Category, debug switch
        {
            0 => LogLevel.Warning,
            1 => LogLevel.Information,
            _ => LogLevel.Debug,
        })
        .Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
}
