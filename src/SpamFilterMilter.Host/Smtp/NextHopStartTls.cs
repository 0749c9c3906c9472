using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// STARTTLS on the way to the next hop, as Postfix's smtp client does it at each <see cref="NextHopTlsLevel"/>
/// (smtp_proto.c): offered or not, refused or not, the handshake, the certificate, then EHLO again over TLS.
/// </summary>
internal static class NextHopStartTls
{
    /// <summary>
    /// Secures <paramref name="connection"/> as <paramref name="tls"/> asks, after the first EHLO answered
    /// <paramref name="ehlo"/>: the EHLO reply to go by from now on (RFC 3207 §4.2: after TLS only the new one counts) and
    /// the TLS, or <paramref name="ehlo"/> and null when the hop stays plain. Throws <see cref="NextHopTlsException"/> when
    /// the level cannot be had, never falling back to plain text once the next hop accepted STARTTLS.
    /// </summary>
    public static async Task<(IReadOnlyList<string> Ehlo, NextHopTlsSession? Session)> NegotiateAsync(NextHopConnection connection, IReadOnlyList<string> ehlo,
        string heloName, NextHopTls tls, CancellationToken cancellationToken)
    {
        var required = tls.Level >= NextHopTlsLevel.Encrypt;
        if (tls.Level == NextHopTlsLevel.None)
        {
            return (ehlo, null);
        }

        if (!ehlo.Skip(1).Any(line => line.Split(' ', 2)[0].Equals("STARTTLS", StringComparison.OrdinalIgnoreCase)))
        {
            return required
                ? await FailAsync(connection, NextHopTlsFailure.NotOffered, "TLS is required, but was not offered", cancellationToken).ConfigureAwait(false)
                : (ehlo, null);
        }

        var (code, lines) = await connection.SendAsync("STARTTLS", cancellationToken).ConfigureAwait(false);
        if (code / 100 != 2)
        {
            // At may Postfix goes on in plain text in the same session: the server said no before any TLS byte.
            return required
                ? await FailAsync(connection, NextHopTlsFailure.Refused, $"TLS is required, but STARTTLS was refused: {code} {string.Join(" / ", lines)}", cancellationToken).ConfigureAwait(false)
                : (ehlo, null);
        }

        string? untrusted = null;
        var secured = new SslStream(connection.Stream, leaveInnerStreamOpen: true);
        try
        {
            await secured.AuthenticateAsClientAsync(Options(tls, problem => untrusted = problem), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await secured.DisposeAsync().ConfigureAwait(false);
            throw untrusted is not null
                ? new NextHopTlsException(NextHopTlsFailure.Certificate, "server certificate not verified: " + untrusted, e)
                : new NextHopTlsException(NextHopTlsFailure.Handshake, "cannot start TLS: handshake failure: " + e.Message, e);
        }
        catch
        {
            await secured.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        connection.Secure(secured);
        var subject = secured.RemoteCertificate?.Subject ?? "(none)";
        var again = await connection.CommandAsync("EHLO " + heloName, 2, cancellationToken).ConfigureAwait(false);
        return (again, new NextHopTlsSession(secured.SslProtocol, secured.NegotiatedCipherSuite, subject, tls.Level == NextHopTlsLevel.Verify));
    }

    private static async Task<(IReadOnlyList<string>, NextHopTlsSession?)> FailAsync(NextHopConnection connection, NextHopTlsFailure failure, string message,
        CancellationToken cancellationToken)
    {
        await connection.QuitQuietlyAsync(cancellationToken).ConfigureAwait(false);
        throw new NextHopTlsException(failure, message);
    }

    /// <summary>
    /// The handshake's options: the system's protocols (TLS 1.2 and 1.3), SNI when a name is known, and a certificate
    /// taken as it is below <see cref="NextHopTlsLevel.Verify"/> (opportunistic and mandatory TLS protect from
    /// eavesdropping, not from a man in the middle, as at Postfix) or else checked, <paramref name="refused"/> told why.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359:Do not disable certificate validation",
        Justification = "may and encrypt take any certificate by definition (Postfix's levels of those names); verify checks it.")]
    private static SslClientAuthenticationOptions Options(NextHopTls tls, Action<string> refused)
    {
        // No download of intermediates or revocation lists: the next hop sends its chain, as OpenSSL (Postfix) expects,
        // and the relay fetches no URL a certificate names on its way to a delivery.
        var policy = new X509ChainPolicy { RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        var options = new SslClientAuthenticationOptions { TargetHost = tls.ServerName ?? string.Empty, CertificateChainPolicy = policy };
        if (tls.Level != NextHopTlsLevel.Verify)
        {
            options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            return options;
        }

        if (tls.TrustedAuthorities is { } authorities)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            foreach (var authority in authorities)
            {
                (authority.SubjectName.RawData.AsSpan().SequenceEqual(authority.IssuerName.RawData) ? policy.CustomTrustStore : policy.ExtraStore).Add(authority);
            }
        }

        options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            refused(Describe(certificate, chain, errors, tls.ServerName));
            return false;
        };
        return options;
    }

    /// <summary>Why a certificate is not trusted, in a line: its subject, the name expected, the chain's problems.</summary>
    private static string Describe(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, string? expectedName)
    {
        var why = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            why.Add("no certificate sent");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            why.Add(expectedName is null ? "no name to match given" : $"not issued to {expectedName}");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var statuses = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct().ToList() ?? [];
            why.Add("not trusted (" + (statuses.Count > 0 ? string.Join(", ", statuses) : "chain errors") + ")");
        }

        return $"{certificate?.Subject ?? "no certificate"}: {string.Join("; ", why)}";
    }
}
