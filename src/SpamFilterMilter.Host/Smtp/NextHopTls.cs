using System.Security.Cryptography.X509Certificates;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// Whether <see cref="NextHopClient"/> protects the hop with STARTTLS (RFC 3207), named and meant as Postfix's
/// <c>smtp_tls_security_level</c>. TLS that fails once the next hop accepted STARTTLS is never followed by the message in
/// plain text: the delivery fails (<see cref="NextHopTlsException"/>), whatever the level.
/// </summary>
public enum NextHopTlsLevel
{
    /// <summary>Plain SMTP, STARTTLS never sent (Postfix's <c>none</c>).</summary>
    None = 0,

    /// <summary>
    /// Opportunistic TLS (Postfix's <c>may</c>, RFC 7435): STARTTLS when the next hop offers it, its certificate not
    /// checked; plain SMTP when it offers none or refuses the command.
    /// </summary>
    May = 1,

    /// <summary>Mandatory TLS, the certificate not checked (Postfix's <c>encrypt</c>): no STARTTLS, no delivery.</summary>
    Encrypt = 2,

    /// <summary>
    /// Mandatory TLS with a certificate that chains to a trusted authority and bears the expected name (Postfix's
    /// <c>verify</c> and <c>secure</c>, which differ only in the names they take from DNS: there is no MX lookup here).
    /// </summary>
    Verify = 3,
}

/// <summary>How <see cref="NextHopClient"/> secures one next hop: the level, and for <see cref="NextHopTlsLevel.Verify"/> what is trusted.</summary>
public sealed class NextHopTls
{
    /// <param name="level">Whether STARTTLS is used and the certificate checked.</param>
    public NextHopTls(NextHopTlsLevel level)
    {
        if (!Enum.IsDefined(level))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "not a TLS level");
        }

        Level = level;
    }

    /// <summary>Plain SMTP: what <see cref="NextHopClient"/> speaks when given no <see cref="NextHopTls"/>.</summary>
    public static NextHopTls None { get; } = new(NextHopTlsLevel.None);

    /// <summary>Whether STARTTLS is used and the certificate checked.</summary>
    public NextHopTlsLevel Level { get; }

    /// <summary>
    /// The next hop's name: sent in the TLS handshake (SNI), and at <see cref="NextHopTlsLevel.Verify"/> the name its
    /// certificate must bear (a DNS name; an IP address matches an IP address entry). Null: no SNI, and at
    /// <see cref="NextHopTlsLevel.Verify"/> no name can match, so give one.
    /// </summary>
    public string? ServerName { get; init; }

    /// <summary>
    /// The authorities a certificate must chain to at <see cref="NextHopTlsLevel.Verify"/> (Postfix's <c>smtp_tls_CAfile</c>):
    /// the self-signed ones are the roots, the others help build the chain. Null: the system's trusted roots. Revocation
    /// is not checked, as Postfix does not (no CRL or OCSP fetched on the way to every delivery).
    /// </summary>
    public IReadOnlyList<X509Certificate2>? TrustedAuthorities { get; init; }

    /// <summary>Postfix's name of the level: <c>none</c>, <c>may</c>, <c>encrypt</c>, <c>verify</c>.</summary>
    public override string ToString() => Level.ToString().ToLowerInvariant();
}
