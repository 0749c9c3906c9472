using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Relay;

/// <summary>
/// The next hop, as <c>host:port</c>: each message is handed over with the host library's <see cref="NextHopClient"/>
/// (byte for byte, the MAIL and RCPT parameters Postfix's smtp client passes on) while the client waits, so the
/// client's answer can be the next hop's.
/// </summary>
internal sealed class NextHop(DnsEndPoint server, string heloName, TimeSpan timeout, ILogger logger)
{
    /// <summary>The reply when the next hop cannot be reached or breaks off: the client retries.</summary>
    public static SmtpReply Unavailable { get; } = new(451, "4.4.1", "Next hop not available - try again later");

    public override string ToString() => $"{server.Host}:{server.Port}";

    /// <summary>
    /// Hands the message over; null when the next hop took it, else the reply for the client: the next hop's refusal, or
    /// <see cref="Unavailable"/> when it could not be reached or broke off (logged). <paramref name="cancellationToken"/>
    /// (the relay stopping) gives up only until the final dot is sent: after it the next hop's answer is waited for, up
    /// to the timeout, since a 421 then would have the client send a message the next hop may already hold.
    /// </summary>
    public async Task<SmtpReply?> DeliverAsync(Envelope envelope, byte[] message, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await NextHopClient.DeliverAsync(await ResolveAsync(deadline.Token).ConfigureAwait(false), heloName, envelope, message, timeout, deadline.Token).ConfigureAwait(false);
            return null;
        }
        catch (NextHopException e) when (e.Code is >= 400 and < 600 && e.Lines.Count > 0)
        {
            return new SmtpReply(e.Code, null, e.Lines);
        }
        catch (Exception e) when (e is NextHopException or SocketException or IOException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            RelayLog.NextHopUnavailable(logger, ToString(), e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.##} s" : e.Message);
            return Unavailable;
        }
    }

    /// <summary><c>host:port</c> (an IPv6 address in brackets) as an end point, not resolved; null when it is not that.</summary>
    public static DnsEndPoint? TryParse(string hostAndPort)
    {
        var colon = hostAndPort.LastIndexOf(':');
        var host = colon > 0 ? hostAndPort[..colon].Trim('[', ']') : string.Empty;
        return host.Length > 0 && int.TryParse(hostAndPort.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? new DnsEndPoint(host, port)
            : null;
    }

    private async Task<IPEndPoint> ResolveAsync(CancellationToken cancellationToken)
    {
        var address = IPAddress.TryParse(server.Host, out var literal)
            ? literal
            : (await Dns.GetHostAddressesAsync(server.Host, cancellationToken).ConfigureAwait(false)).First();
        return new IPEndPoint(address, server.Port);
    }
}
