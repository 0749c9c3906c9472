using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Relay;

/// <summary>What the relay logs (event ids 7000 to 7099); the host library's own lines for each message at Debug.</summary>
internal static partial class RelayLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "listening on {Endpoint} as {ServerName}; option.dat {OptionFile}: {Slots} slot(s); messages go to {Target}")]
    public static partial void Listening(ILogger logger, string endpoint, string serverName, string optionFile, int slots, string target);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Warning, Message = "listening on {Endpoints} without --relay-domain: every recipient from every client is accepted, and only the next hop's relay rules keep this relay from being an open relay; give --relay-domain (docs/relay.md, \"The next hop's relay rules\")")]
    public static partial void NoRelayDomains(ILogger logger, string endpoints);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Information, Message = "stopping ({Why}): new connections and messages are answered 421 4.3.2 (their clients try again later); {Count} message(s) under way may finish within {Seconds} s (a second SIGTERM or SIGINT stops at once)")]
    public static partial void Stopping(ILogger logger, string why, int count, double seconds);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Information, Message = "every message under way has finished; closing the sessions")]
    public static partial void Drained(ILogger logger);

    [LoggerMessage(EventId = 7008, Level = LogLevel.Warning, Message = "{Count} message(s) still under way {When}: answered 421 4.3.2, their clients try again later; closing the sessions")]
    public static partial void DrainCut(ILogger logger, int count, string when);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Information, Message = "{Why} while starting: the relay stops as soon as its plug-ins are loaded")]
    public static partial void StopDuringStart(ILogger logger, string why);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Information, Message = "stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "message {QueueId} to {Recipients}: {What}")]
    public static partial void Handled(ILogger logger, string queueId, string recipients, string what);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "message {QueueId} from {Sender} to {Count} recipient(s) refused: {Reply}")]
    public static partial void Refused(ILogger logger, string queueId, string sender, int count, string reply);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Debug, Message = "message {QueueId}: {Line}")]
    public static partial void HostLine(ILogger logger, string queueId, string line);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "message {QueueId}: refused for {Recipients} ({Reply}) but accepted for others; the relay keeps no queue and sends no bounce, so they do not get it")]
    public static partial void RecipientsLost(ILogger logger, string queueId, string recipients, string reply);

    // Refused, timed out, a broken reply: an everyday event, said in one line (its stack says nothing an operator needs).
    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "next hop {NextHop} not available: {Cause}; the client is told to try again later")]
    public static partial void NextHopUnavailable(ILogger logger, string nextHop, string cause);

    // The hop could not be secured as --next-hop-tls asks: the message is not sent in plain text. Where it failed names
    // what to look at: STARTTLS not offered or refused (the next hop's configuration), the handshake, the certificate.
    [LoggerMessage(EventId = 7018, Level = LogLevel.Warning, Message = "next hop {NextHop} not available: TLS ({Level}) failed at {Stage}: {Cause}; the client is told to try again later")]
    public static partial void NextHopTlsFailed(ILogger logger, string nextHop, string level, string stage, string cause);

    [LoggerMessage(EventId = 7019, Level = LogLevel.Debug, Message = "message {QueueId} to next hop {NextHop}: {Session}")]
    public static partial void NextHopSession(ILogger logger, string queueId, string nextHop, string session);

    [LoggerMessage(EventId = 7009, Level = LogLevel.Information, Message = "sending the milters' metrics by OTLP to {Url} every {Seconds} s")]
    public static partial void SendingMetrics(ILogger logger, string url, double seconds);

    [LoggerMessage(EventId = 7013, Level = LogLevel.Warning, Message = "metrics not sent to {Url}: {Problem} ({Skipped} more failure(s) since the last such line; at most one line every {Minutes} minutes)")]
    public static partial void MetricsNotSent(ILogger logger, string url, string problem, int skipped, double minutes);

    // Why in the host library's words (SpamFilterHost.SlotsNothingOptsIn), which check-config --source-channel prints too.
    [LoggerMessage(EventId = 7014, Level = LogLevel.Warning, Message = "slot {Slot} filters no message: {Why}")]
    public static partial void SlotNeverChosen(ILogger logger, int slot, string why);

    [LoggerMessage(EventId = 7015, Level = LogLevel.Information, Message = "STARTTLS offered with the certificate {Subject} ({Intermediates} intermediate(s)), valid until {NotAfter:u}")]
    public static partial void TlsCertificate(ILogger logger, string subject, int intermediates, DateTime notAfter);

    // Most MTAs send mail over TLS without verifying the certificate, but those that verify (DANE, MTA-STS) fall back
    // to plain text or defer the mail: the administrator must hear of it before the day it lapses.
    [LoggerMessage(EventId = 7016, Level = LogLevel.Warning, Message = "the TLS certificate {Subject} {When} ({NotAfter:u}): {Consequence}; renew it, then SIGHUP")]
    public static partial void TlsCertificateExpiring(ILogger logger, string subject, string when, DateTime notAfter, string consequence);

    [LoggerMessage(EventId = 7017, Level = LogLevel.Warning, Message = "SIGHUP: the TLS certificate was not read again, the one in use stays: {Problem}")]
    public static partial void TlsCertificateNotReloaded(ILogger logger, string problem);

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "SIGHUP: reading option.dat, the slots' option files and the channel table again")]
    public static partial void ReloadRequested(ILogger logger);

    [LoggerMessage(EventId = 7022, Level = LogLevel.Warning, Message = "SIGHUP: the next hop's CA file was not read again, the authorities in use stay: {Problem}")]
    public static partial void NextHopAuthoritiesNotReloaded(ILogger logger, string problem);

    [LoggerMessage(EventId = 7023, Level = LogLevel.Information, Message = "SIGHUP: the next hop's CA file {File} read again: {Count} certificate(s) for the deliveries from now on")]
    public static partial void NextHopAuthoritiesReloaded(ILogger logger, string file, int count);
}
