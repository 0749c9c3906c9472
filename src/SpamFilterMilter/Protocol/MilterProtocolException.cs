namespace SpamFilterMilter.Protocol;

/// <summary>Why a milter connection became unusable; each kind reads differently in the log.</summary>
internal enum MilterFailureKind
{
    /// <summary>No address of the milter (or the SOCKS server) accepted a connection.</summary>
    ConnectFailed,

    /// <summary>A connect, write or read did not finish in time.</summary>
    Timeout,

    /// <summary>The milter closed the connection.</summary>
    Closed,

    /// <summary>The socket failed (reset, unreachable, …).</summary>
    Network,

    /// <summary>A packet broke the framing or payload rules (length, missing NUL, left-over bytes).</summary>
    Malformed,

    /// <summary>A well-formed reply that is not allowed here (unknown code, modification outside end of message, bad SMTP reply text).</summary>
    Unexpected,

    /// <summary>Option negotiation failed (version, actions or steps we cannot accept).</summary>
    Negotiation,

    /// <summary>A limit on what we send or accept was exceeded.</summary>
    LimitExceeded,

    /// <summary>The SOCKS server refused or broke the tunnel.</summary>
    Socks,

    /// <summary>The host cancelled the call; the session is broken all the same.</summary>
    Cancelled,
}

/// <summary>
/// The milter connection is unusable and must be dropped: the stream broke, the milter fell out of
/// step, or it sent something we do not accept. Never used for a milter that simply says no — that
/// is a verdict. Derives from <see cref="IOException"/> so that callers can treat it as one.
/// </summary>
internal sealed class MilterProtocolException : IOException
{
    public MilterProtocolException(MilterFailureKind kind, string stage, string cause, Exception? inner = null)
        : base($"{stage}: {cause}", inner)
    {
        Kind = kind;
        Stage = stage;
        Cause = cause;
    }

    /// <summary>What kind of failure this is.</summary>
    public MilterFailureKind Kind { get; }

    /// <summary>The protocol stage, in libmilter's words ("SMFIC_BODYEOB reply", "connect", "SMFIC_OPTNEG").</summary>
    public string Stage { get; }

    /// <summary>What went wrong, without the stage.</summary>
    public string Cause { get; }
}
