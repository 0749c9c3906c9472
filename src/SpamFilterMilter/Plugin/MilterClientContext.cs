using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Plugin;

/// <summary>What every session of one plug-in instance shares: options, connector, pool, logger, telemetry, the session's limits.</summary>
internal sealed class MilterClientContext
{
    /// <param name="options">The milter and how to use it.</param>
    /// <param name="logger">Where the plug-in's lines go.</param>
    /// <param name="meterFactory">The host's meter factory, which the instruments are made through; null: the plug-in's own meter.</param>
    /// <param name="slot">The host's slot this plug-in serves (<c>SpamFilterPluginContext.Slot</c>), named in log lines; 0: none.</param>
    public MilterClientContext(MilterOptions options, ILogger logger, IMeterFactory? meterFactory = null, int slot = 0)
    {
        MeterFactory = meterFactory;
        var metrics = MilterMetrics.For(meterFactory);
        Options = options;
        Logger = logger;
        EndpointName = options.EndpointName;
        LogName = slot > 0 ? $"{EndpointName} (slot {slot})" : EndpointName;
        Connector = new MilterConnector(options, logger, telemetry: MilterConnector.TelemetryFor(options, metrics), logName: LogName);
        Pool = options.PoolSize > 0 ? new ConnectionPool(options.PoolSize, options.PoolIdleTimeout) : null;
        SessionSettings = new MilterSessionSettings
        {
            CommandTimeout = options.CommandTimeout,
            ContentTimeout = options.ContentTimeout,
            MessageTimeout = options.MessageTimeout,
            MaxRepliesPerEvent = options.MaxReplies,
            MaxEditsPerMessage = options.MaxEdits,
            MaxReplyPacket = options.MaxPacket,
            MaxReplacementBodyBytes = options.MaxReplacementBody,
            BodySpillDirectory = options.BodySpillDirectory,
            MaxReplyText = options.MaxReplyText,
            LogTraffic = options.Debug >= 2,
            BlockingIo = options.IoMode == IoMode.Blocking,
            MacroLists = options.MacroLists,
            QueueIdAtMail = options.QueueIdTiming == QueueIdTiming.Sendmail,
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

    /// <summary>The milter as log lines name it: <see cref="EndpointName"/>, and the host's slot when it gave one (<c>127.0.0.1:8890 (slot 2)</c>).</summary>
    public string LogName { get; }

    public MilterConnector Connector { get; }

    /// <summary>The host's meter factory the plug-in's instruments were made through, or null (the plug-in's own meter).</summary>
    public IMeterFactory? MeterFactory { get; }

    /// <summary>The endpoint's metrics and spans.</summary>
    public MilterTelemetry Telemetry => Connector.Telemetry;

    /// <summary>Parked connections (POOL_SIZE); null when every session opens its own.</summary>
    public ConnectionPool? Pool { get; }

    public MilterSessionSettings SessionSettings { get; }
}
