using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>Why a milter connection became unusable; each kind reads differently in the log.</summary>
public enum MilterFailureKind
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

    /// <summary>No server of the slot could take the session: every one out of service (its circuit breaker open) or being probed.</summary>
    Unavailable,

    /// <summary>
    /// Something other than the milter failed while the message was under way (the host's message could not be read,
    /// the process ran out of memory, a fault of the plug-in itself): the message gets the failure outcome all the
    /// same, and nothing but the host's own cancellation escapes to the host.
    /// </summary>
    Internal,
}

/// <summary>
/// The milter connection is unusable and must be dropped: the stream broke, the milter fell out of
/// step, or it sent something we do not accept. Never used for a milter that simply says no — that
/// is a verdict. Derives from <see cref="IOException"/> so that callers can treat it as one. Public because
/// <c>MilterPlugin.ProbeAsync</c> throws it: a caller can tell a refused connection from a timeout or a milter that
/// broke the protocol (<see cref="Kind"/>, <see cref="ErrorType"/>); a message's failure is a verdict, never this.
/// </summary>
public sealed class MilterProtocolException : IOException
{
    /// <param name="kind">What kind of failure.</param>
    /// <param name="stage">The stage that failed.</param>
    /// <param name="step">The protocol step, in libmilter's words (<c>SMFIC_MAIL reply</c>, <c>SMFIC_OPTNEG</c>); null for reaching the milter (DNS, TCP, SOCKS).</param>
    /// <param name="cause">What went wrong, without the step.</param>
    /// <param name="inner">The exception behind it.</param>
    internal MilterProtocolException(MilterFailureKind kind, FilterStage stage, string? step, string cause, Exception? inner = null)
        : base(step is null ? cause : $"{step}: {cause}", inner)
    {
        Kind = kind;
        Stage = stage;
        Step = step;
        Cause = cause;
    }

    /// <summary>What kind of failure this is.</summary>
    public MilterFailureKind Kind { get; }

    /// <summary>The stage that failed.</summary>
    public FilterStage Stage { get; }

    /// <summary>The protocol step in libmilter's words (<c>SMFIC_BODYEOB reply</c>), or null.</summary>
    public string? Step { get; }

    /// <summary>What went wrong, without the step (<see cref="Exception.Message"/> has both).</summary>
    public string Cause { get; }

    /// <summary>
    /// The failure as the metrics and traces name it (<c>error.type</c>): connect, timeout, closed, network, malformed,
    /// unexpected, negotiation, limit, socks, cancelled, unavailable or internal (docs/operations.md). A constant
    /// string: a failure on every message must not cost an allocation more.
    /// </summary>
    public string ErrorType => Kind switch
    {
        MilterFailureKind.ConnectFailed => "connect",
        MilterFailureKind.Timeout => "timeout",
        MilterFailureKind.Closed => "closed",
        MilterFailureKind.Network => "network",
        MilterFailureKind.Malformed => "malformed",
        MilterFailureKind.Unexpected => "unexpected",
        MilterFailureKind.Negotiation => "negotiation",
        MilterFailureKind.LimitExceeded => "limit",
        MilterFailureKind.Socks => "socks",
        MilterFailureKind.Cancelled => "cancelled",
        MilterFailureKind.Unavailable => "unavailable",
        _ => "internal",
    };
}
