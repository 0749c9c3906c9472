using System.Net;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// What the SmtpServer integration logs (event ids 6000 to 6099): envelope addresses and message text only at Debug; a
/// client's IP address where an operator acts on it (6018, 6026, 6031, 6033), and a peer's text quoted and bounded.
/// </summary>
internal static partial class SmtpServerLog
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Debug, Message = "session {Session}: client {Client} connected")]
    public static partial void SessionStarted(ILogger logger, Guid session, IPAddress? client);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Debug, Message = "session {Session}: replied {Reply} in place of SmtpServer's {Own}")]
    public static partial void Replaced(ILogger logger, Guid session, string own, string reply);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Debug, Message = "session {Session}: message {QueueId} not stored: {Disposition}")]
    public static partial void NotStored(ILogger logger, Guid session, string queueId, Disposition disposition);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Debug, Message = "session {Session}: TLS established: {Version} with {Cipher}")]
    public static partial void TlsStarted(ILogger logger, Guid session, string version, string cipher);

    // A scanner that drops the connection mid-handshake, a client that trusts nothing it was sent (a chain without its
    // intermediates): what the operator needs to tell a client's trouble from a certificate's.
    [LoggerMessage(EventId = 6017, Level = LogLevel.Information, Message = "session {Session}: TLS handshake failed: {Reason}")]
    public static partial void TlsFailed(ILogger logger, Guid session, string reason);

    // The client's address, where an operator must act on it (a firewall rule), as Postfix's warning names it.
    [LoggerMessage(EventId = 6018, Level = LogLevel.Warning, Message = "session {Session}: {Count} sessions from {Client}, more than {Limit}: greeted 421 4.7.0 and closed")]
    public static partial void TooManyConnections(ILogger logger, Guid session, IPAddress client, int count, int limit);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Error, Message = "opening the filter session of a new SMTP session failed; the connection is closed")]
    public static partial void OpenFilterFailed(ILogger logger, Exception exception);

    // A disk that is full or a folder that cannot be written says so in its message; anything else keeps its stack.
    [LoggerMessage(EventId = 6011, Level = LogLevel.Warning, Message = "session {Session}: the store failed for message {QueueId}: {Cause}; answered 451 4.3.0")]
    public static partial void StoreFailed(ILogger logger, Guid session, string queueId, string cause, Exception? exception);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Information, Message = "session {Session}: message {QueueId} given up as the server stops; answered 421 4.3.2, the client keeps it")]
    public static partial void GivenUpAtStop(ILogger logger, Guid session, string queueId);

    [LoggerMessage(EventId = 6014, Level = LogLevel.Information, Message = "session {Session}: the server stops; answered 421 4.3.2 in place of SmtpServer's {Own}")]
    public static partial void ClosedAtStop(ILogger logger, Guid session, string own);

    [LoggerMessage(EventId = 6016, Level = LogLevel.Information, Message = "session {Session}: {What} answered {Reply} as the server drains: no new message starts, the client tries again later")]
    public static partial void RefusedAtStop(ILogger logger, Guid session, string what, string reply);

    [LoggerMessage(EventId = 6015, Level = LogLevel.Warning, Message = "session {Session}: message {QueueId} has {Hops} Received fields, with this server's {Limit} or more (hopcount_limit): a mail loop; answered 554 5.4.0 Error: too many hops")]
    public static partial void TooManyHops(ILogger logger, Guid session, string queueId, int hops, int limit);

    [LoggerMessage(EventId = 6025, Level = LogLevel.Error, Message = "session {Session}: taking message {QueueId} failed; answered 421 4.3.0 Error: internal error and closed")]
    public static partial void MessageFailed(ILogger logger, Guid session, string queueId, Exception exception);

    [LoggerMessage(EventId = 6026, Level = LogLevel.Warning, Message = "session {Session}: SmtpServer ended the session of client {Client} on {ExceptionType}: {Reason}; answered 421 4.3.0 Error: internal error")]
    public static partial void SessionFaulted(ILogger logger, Guid session, string client, string exceptionType, string reason);

    // 6030 to 6039: the limits on what one client may take (a timeout, recipients, errors, sessions), as Postfix's smtpd has them.
    [LoggerMessage(EventId = 6030, Level = LogLevel.Information, Message = "session {Session}: timeout after {Command} ({Limit}); answered {Reply} and closed")]
    public static partial void TimedOut(ILogger logger, Guid session, string limit, string command, string reply);

    // The client's address, as Postfix's "too many errors after UNKNOWN from host[address]" names it.
    [LoggerMessage(EventId = 6031, Level = LogLevel.Information, Message = "session {Session}: too many errors from {Client} ({Errors}, the last after {Command}); answered 421 4.7.0 and closed")]
    public static partial void TooManyErrors(ILogger logger, Guid session, IPAddress? client, int errors, string command);

    // As Postfix's cleanup warns of it; the client's address, for one that ignores the SIZE announced again and again.
    [LoggerMessage(EventId = 6033, Level = LogLevel.Information, Message = "session {Session}: message of {Size} bytes from {Client}, more than {Limit} (MaxMessageSize); answered 552 5.3.4 Error: message file too big")]
    public static partial void MessageTooLarge(ILogger logger, Guid session, long size, IPAddress? client, long limit);

    [LoggerMessage(EventId = 6032, Level = LogLevel.Warning, Message = "{Limit} sessions open (MaxConnections): no new connection is accepted until one ends; new clients wait in the listen queue")]
    public static partial void ConnectionLimitReached(ILogger logger, int limit);

    // Postfix's "non-SMTP command" warning: a web browser or a proxy made to talk to port 25, or a client that sent a
    // message's text as commands. The client's address, for a firewall rule.
    [LoggerMessage(EventId = 6034, Level = LogLevel.Warning, Message = "session {Session}: non-SMTP command from {Client}: {Command}; answered 221 2.7.0 and closed")]
    public static partial void NotSmtp(ILogger logger, Guid session, IPAddress? client, string command);

    // As Postfix's "NOQUEUE: reject: RCPT from host[address]: 554 5.7.1 ...": the client's address, for a firewall rule,
    // and the recipient's domain only (addresses at Debug: event 6002 has the reply).
    [LoggerMessage(EventId = 6040, Level = LogLevel.Information, Message = "session {Session}: RCPT from {Client} to a domain not relayed ({Domain}): answered 554 5.7.1 Relay access denied")]
    public static partial void RelayDenied(ILogger logger, Guid session, IPAddress? client, string domain);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "session {Session}: closing the filter session failed")]
    public static partial void CloseFailed(ILogger logger, Guid session, Exception exception);
}
