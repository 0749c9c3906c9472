using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>Limits and switches of a session.</summary>
internal sealed record MilterSessionSettings
{
    /// <summary>Bound on each write and each read of a command outside the message content (COMMAND_TIMEOUT): OPTNEG, CONNECT, HELO, MAIL, RCPT, DATA, UNKNOWN, ABORT, QUIT.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(36);

    /// <summary>Bound on each write and each read of the message content (CONTENT_TIMEOUT): the headers, the end of headers, the body, the end of the message.</summary>
    public TimeSpan ContentTimeout { get; init; } = TimeSpan.FromSeconds(36);

    /// <summary>
    /// The time the milter may take over one message, all its waits from MAIL to the verdict added up
    /// (the host's own time between stages does not count). PROGRESS does not extend it.
    /// </summary>
    public TimeSpan MessageTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Most packets a milter may send in answer to one event (PROGRESS and modifications included).</summary>
    public int MaxRepliesPerEvent { get; init; } = 10_000;

    /// <summary>Most modifications a milter may make to one message.</summary>
    public int MaxEditsPerMessage { get; init; } = 1_000;

    /// <summary>Largest payload accepted in one packet from the milter (checked before anything is allocated).</summary>
    public int MaxReplyPacket { get; init; } = MilterConstants.MaxPayload1M;

    /// <summary>Longest SMTP reply text accepted in SMFIR_REPLYCODE.</summary>
    public int MaxReplyText { get; init; } = 32 * 1024;

    /// <summary>Largest replacement body accepted from SMFIR_REPLBODY.</summary>
    public int MaxReplacementBodyBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>The most bytes of a replacement body kept in memory; a longer body goes to a temporary file.</summary>
    public int BodyMemoryLimit { get; init; } = MessageBodyBuilder.DefaultMemoryLimit;

    /// <summary>Where a replacement body's temporary file goes (BODY_SPILL_DIRECTORY); null: the system's temporary folder.</summary>
    public string? BodySpillDirectory { get; init; }

    /// <summary>The steps offered in SMFIC_OPTNEG.</summary>
    public ProtocolFlags OfferedProtocol { get; init; } = Negotiation.OfferedProtocol;

    /// <summary>The macros sent at each stage the milter asked no list for (CONNECT_MACROS … UNKNOWN_MACROS).</summary>
    public MacroLists MacroLists { get; init; } = MacroLists.Default;

    /// <summary>Send the queue id <c>i</c> from MAIL on, as sendmail does, instead of from the first accepted recipient on, as Postfix does (QUEUE_ID_TIMING).</summary>
    public bool QueueIdAtMail { get; init; }

    /// <summary>Log every packet (DEBUG=2).</summary>
    public bool LogTraffic { get; init; }

    /// <summary>
    /// Wait for the milter in a blocking read on the calling thread (sendmail's and Postfix's model:
    /// the least CPU per message) instead of asynchronously. The stream must then come from a socket
    /// whose read and write timeouts the connection's <see cref="IConnectionControl"/> sets.
    /// </summary>
    public bool BlockingIo { get; init; }
}
