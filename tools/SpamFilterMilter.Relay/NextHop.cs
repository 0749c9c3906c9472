using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Relay;

/// <summary>
/// The next hop, as <c>host:port</c>: each message is handed over with the host library's <see cref="NextHopClient"/>
/// (byte for byte, the MAIL and RCPT parameters Postfix's smtp client passes on, STARTTLS as <c>--next-hop-tls</c> says)
/// while the client waits, so the client's answer can be the next hop's.
/// </summary>
internal sealed class NextHop(DnsEndPoint server, string heloName, TimeSpan timeout, NextHopTls tls, ILogger logger)
{
    private readonly Lock _reloading = new();
    private NextHopTls _tls = tls; // replaced whole at a SIGHUP that reads the CA file again: a delivery reads it once

    /// <summary>The reply when the next hop cannot be reached or breaks off: the client retries.</summary>
    public static SmtpReply Unavailable { get; } = new(451, "4.4.1", "Next hop not available - try again later");

    public override string ToString() => $"{server.Host}:{server.Port}";

    /// <summary>
    /// Hands the message over; null when the next hop took it, else the reply for the client: the next hop's refusal, or
    /// <see cref="Unavailable"/> when it could not be reached or broke off (7011), or the hop could not be secured as
    /// <c>--next-hop-tls</c> asks (7018; the message is then not sent in plain text). <paramref name="cancellationToken"/>
    /// (the relay stopping) gives up only until the final dot is sent: after it the next hop's answer is waited for, up
    /// to the timeout, since a 421 then would have the client send a message the next hop may already hold.
    /// </summary>
    public async Task<SmtpReply?> DeliverAsync(string queueId, Envelope envelope, byte[] message, CancellationToken cancellationToken)
    {
        var hopTls = Volatile.Read(ref _tls); // this delivery's, whatever a SIGHUP reads meanwhile
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var session = await NextHopClient.DeliverAsync(await ResolveAsync(deadline.Token).ConfigureAwait(false), heloName, envelope, message, timeout, hopTls, deadline.Token)
                .ConfigureAwait(false);
            // The session names the certificate's subject, which the next hop chose: quoted and bounded, as its text is.
            RelayLog.NextHopSession(logger, queueId, ToString(), session is null ? $"plain SMTP (--next-hop-tls {hopTls})" : LogText.Quote(session.ToString(), 400));
            return null;
        }
        catch (NextHopException e) when (e.Code is >= 400 and < 600 && e.Lines.Count > 0)
        {
            return new SmtpReply(e.Code, null, e.Lines);
        }
        catch (NextHopTlsException e)
        {
            // Never a 5xx: the message is fine, the hop is not (as Postfix defers it, 4.7.4 or 4.7.5); never plain text.
            RelayLog.NextHopTlsFailed(logger, ToString(), hopTls.ToString(), StageOf(e.Failure), LogText.Quote(e.Message, 400)); // holds the hop's reply
            return Unavailable;
        }
        catch (Exception e) when (e is NextHopException or SocketException or IOException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            RelayLog.NextHopUnavailable(logger, ToString(), e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.##} s" : LogText.Quote(e.Message, 400));
            return Unavailable;
        }
    }

    /// <summary>
    /// The TLS <paramref name="options"/> ask for: the level, the name (<c>--next-hop-tls-name</c>, else the next hop's
    /// host) and the CA file's authorities, read now; throws <see cref="InvalidOperationException"/> naming a CA file it
    /// cannot use, so that the relay does not start.
    /// </summary>
    public static NextHopTls TlsFor(RelayOptions options)
    {
        IReadOnlyList<X509Certificate2>? authorities = null;
        if (options.NextHopTlsCaFile is { } file)
        {
            var certificates = new X509Certificate2Collection();
            try
            {
                certificates.ImportFromPemFile(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new InvalidOperationException($"cannot use --next-hop-tls-ca-file {file}: {e.Message}", e);
            }

            authorities = certificates.Count > 0 ? [.. certificates]
                : throw new InvalidOperationException($"cannot use --next-hop-tls-ca-file {file}: it holds no PEM certificate");
        }

        return new NextHopTls(options.NextHopTls) { ServerName = options.NextHopTlsName ?? options.NextHop?.Host, TrustedAuthorities = authorities };
    }

    /// <summary>
    /// SIGHUP: the CA file (<c>--next-hop-tls-ca-file</c>) read again for the deliveries from now on (7023); one that cannot
    /// be used now leaves the authorities in use (7022). Nothing without a CA file.
    /// </summary>
    public void ReloadAuthorities(RelayOptions options)
    {
        if (options.NextHopTlsCaFile is not { } file)
        {
            return;
        }

        // One reload at a time: two SIGHUPs close together must not leave the older reading of the file in use.
        lock (_reloading)
        {
            try
            {
                var renewed = TlsFor(options);
                Volatile.Write(ref _tls, renewed);
                RelayLog.NextHopAuthoritiesReloaded(logger, file, renewed.TrustedAuthorities?.Count ?? 0);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Whatever it is, the reload of option.dat that follows must still run, and the administrator hear why.
                RelayLog.NextHopAuthoritiesNotReloaded(logger, e.Message);
            }
        }
    }

    private static string StageOf(NextHopTlsFailure failure) => failure switch
    {
        NextHopTlsFailure.NotOffered => "EHLO",
        NextHopTlsFailure.Refused => "STARTTLS",
        NextHopTlsFailure.Handshake => "the handshake",
        _ => "the certificate",
    };

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
