using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Plugin;

/// <summary>What every session of one plug-in instance shares: options, the servers (each with its connector, pool, telemetry and breaker), logger, the session's limits.</summary>
internal sealed class MilterClientContext
{
    /// <param name="options">The milter and how to use it.</param>
    /// <param name="logger">Where the plug-in's lines go.</param>
    /// <param name="meterFactory">The host's meter factory, which the instruments are made through; null: the plug-in's own meter.</param>
    /// <param name="slot">The host's slot this plug-in serves (<c>SpamFilterPluginContext.Slot</c>), named in log lines; 0: none.</param>
    /// <param name="time">The clock of the servers' circuit breakers; null: the system's.</param>
    public MilterClientContext(MilterOptions options, ILogger logger, IMeterFactory? meterFactory = null, int slot = 0, TimeProvider? time = null)
    {
        MeterFactory = meterFactory;
        var metrics = MilterMetrics.For(meterFactory);
        Options = options;
        Logger = logger;
        EndpointName = options.EndpointName;
        LogName = MilterEndpoint.LogNameOf(EndpointName, slot);
        Endpoints = new EndpointSet(options, logger, metrics, time ?? TimeProvider.System, slot);
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

    /// <summary>The slot's milter as log lines name it before a session has a server: <see cref="EndpointName"/>, and the host's slot when it gave one.</summary>
    public string LogName { get; }

    /// <summary>The servers HOST names, and which one a session gets.</summary>
    public EndpointSet Endpoints { get; }

    /// <summary>The host's meter factory the plug-in's instruments were made through, or null (the plug-in's own meter).</summary>
    public IMeterFactory? MeterFactory { get; }

    /// <summary>The metrics and spans of a message no server took: the server's own with one server, the list's with several.</summary>
    public MilterTelemetry Telemetry => Endpoints.Telemetry;

    public MilterSessionSettings SessionSettings { get; }
}
