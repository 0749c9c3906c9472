using Microsoft.Extensions.Logging;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Plugin;

/// <summary>What every session of one plug-in instance shares: options, connector, pool, logger, the session's limits.</summary>
internal sealed class MilterClientContext
{
    public MilterClientContext(MilterOptions options, ILogger logger)
    {
        Options = options;
        Logger = logger;
        EndpointName = options.EndpointName;
        Connector = new MilterConnector(options, logger);
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

    public MilterConnector Connector { get; }

    /// <summary>Parked connections (POOL_SIZE); null when every session opens its own.</summary>
    public ConnectionPool? Pool { get; }

    public MilterSessionSettings SessionSettings { get; }
}
