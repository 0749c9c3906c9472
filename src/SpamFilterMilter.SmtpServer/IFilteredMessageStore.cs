using SmtpServer;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The application's own store: where <see cref="SmtpServerFiltering"/> hands each message its filter let through
/// (<see cref="Host.Running.Disposition.Deliver"/> or <see cref="Host.Running.Disposition.Quarantine"/>, a held message
/// the store must keep apart), with the verdict and the edited message and envelope. A message the filter refused or
/// discarded never gets here: the client got the refusal, or a 250 for nothing.
/// </summary>
public interface IFilteredMessageStore
{
    /// <summary>
    /// Stores <paramref name="message"/> before the client is answered. Returns the reply to the client's final dot:
    /// null for SmtpServer's own 250, a reply of the store's (a 4xx or 5xx refuses the message; 421 also closes the
    /// session). An exception is logged and answered <c>451 4.3.0 Error: queue file write error</c>, as Postfix
    /// answers a message it could not store.
    /// </summary>
    Task<SmtpReply?> SaveAsync(ReceivedMessage message, CancellationToken cancellationToken);
}

/// <summary>A message a client sent and the filter let through, as <see cref="IFilteredMessageStore"/> gets it.</summary>
public sealed class ReceivedMessage
{
    /// <summary>SmtpServer's session (its properties, endpoint, authentication).</summary>
    public required ISessionContext Context { get; init; }

    /// <summary>The SMTP client as the filter was told of it.</summary>
    public required ClientInfo Client { get; init; }

    /// <summary>The client's last HELO or EHLO name.</summary>
    public string? HeloName { get; init; }

    /// <summary>The message's id, as in the trace field (<c>with ESMTP id …</c>).</summary>
    public required string QueueId { get; init; }

    /// <summary>
    /// The server's own <c>Received:</c> field, on top of <see cref="FilteredMessage.Message"/>; null when
    /// <see cref="SmtpServerFilteringOptions.AddTraceField"/> is off. A host that runs more filters on the message (the
    /// host library's <c>HostMessage.HiddenTraceHeader</c>) hides it from them with this.
    /// </summary>
    public HeaderField? TraceField { get; init; }

    /// <summary>
    /// The session's TLS and SMTP AUTH macros, with Postfix's names and values (<c>{tls_version}</c>, <c>{cipher}</c>,
    /// <c>{cipher_bits}</c>, <c>{auth_type}</c>, <c>{auth_authen}</c>; only those with a value): the milters at the commands
    /// were told them; a store that filters the whole message again (the host library's <c>HostMessage.Macros</c>, as the
    /// relay does) tells its milters the same.
    /// </summary>
    public IReadOnlyDictionary<string, string> Macros { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// What the filter made of the message: <see cref="FilteredMessage.Disposition"/> (deliver or quarantine),
    /// <see cref="FilteredMessage.Verdict"/>, and <see cref="FilteredMessage.Message"/> and
    /// <see cref="FilteredMessage.Envelope"/> with the verdict's edits applied (CRLF line ends, the trace field on top).
    /// </summary>
    public required FilteredMessage Filtered { get; init; }
}
