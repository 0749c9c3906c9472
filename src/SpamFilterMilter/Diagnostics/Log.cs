using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Diagnostics;

/// <summary>
/// Every log line the plug-in writes, source-generated, with stable event ids grouped by area:
/// 1000 connection, 1100 negotiation, 2000 messages, 3000 traffic, 4000 failures. Every line names
/// the milter endpoint, and the host's slot when the plug-in was created for one. Addresses, headers and bodies appear only in traffic lines (DEBUG=2); the
/// SOCKS password never appears.
/// </summary>
internal static partial class Log
{
    /// <summary>The logger category of the plug-in.</summary>
    public const string Category = "SpamFilterMilter";

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "milter {Endpoint}: connected to {Address} in {ElapsedMs:F1} ms")]
    public static partial void Connected(ILogger logger, string endpoint, string address, double elapsedMs);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "milter {Endpoint}: connect to {Address} failed: {Cause}")]
    public static partial void ConnectAttemptFailed(ILogger logger, string endpoint, string address, string cause);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "milter {Endpoint}: connection closed")]
    public static partial void Closed(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "milter {Endpoint}: out of service for {BackoffSeconds:0.##} s after {What}: {Cause}")]
    public static partial void OutOfService(ILogger logger, string endpoint, double backoffSeconds, string what, string cause);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "milter {Endpoint}: back-off over; the next message probes it")]
    public static partial void Probing(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "milter {Endpoint}: back in service")]
    public static partial void BackInService(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Debug, Message = "milter {Endpoint}: {Cause}; the message goes to another server, if one is in service")]
    public static partial void TryingAnotherServer(ILogger logger, string endpoint, string cause);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "milter {Endpoint}: negotiated protocol version {Version}, actions {Actions}, steps {Steps}, max packet {MaxPayload}")]
    public static partial void Negotiated(ILogger logger, string endpoint, uint version, string actions, string steps, int maxPayload);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "milter {Endpoint}: negotiation: {Warning}")]
    public static partial void NegotiationWarning(ILogger logger, string endpoint, string warning);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "milter {Endpoint}: message {QueueId}: {Stages}; verdict {Verdict}; {ElapsedMs:F1} ms")]
    public static partial void MessageSummary(ILogger logger, string endpoint, string queueId, string stages, string verdict, double elapsedMs);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "milter {Endpoint}: {Stage}: {Problem}")]
    public static partial void MilterQuirk(ILogger logger, string endpoint, string stage, string problem);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "milter {Endpoint}: > {Packet}")]
    public static partial void PacketSent(ILogger logger, string endpoint, string packet);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "milter {Endpoint}: < {Packet}")]
    public static partial void PacketReceived(ILogger logger, string endpoint, string packet);

    // The plug-in does not apply the failure action: it gives it to the host as the verdict, and a host's optional slot
    // lets the message go on instead (the host's own line says which). So this line says what the verdict is, not what happens.
    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "milter {Endpoint}: {Stage}: {Cause}; the verdict is the failure action {FailureAction}, for the host to apply (an optional slot lets the message go on)")]
    public static partial void Failure(ILogger logger, string endpoint, string stage, string cause, string failureAction);
}
