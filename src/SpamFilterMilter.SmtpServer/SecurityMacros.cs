using System.Net.Security;
using System.Security.Authentication;
using SmtpServer.Protocol;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The macros sendmail and Postfix give a milter about a session's TLS and SMTP AUTH, from what SmtpServer knows of
/// them: a milter that signs for authenticated senders (opendkim), skips them (a spam filter) or scores a plain-text
/// connection reads these. Postfix sends the TLS ones with HELO and the AUTH ones with MAIL (<c>milter_helo_macros</c>,
/// <c>milter_mail_macros</c>), so they are set right before those calls; a name without a value is removed.
/// <c>{cert_subject}</c> and <c>{cert_issuer}</c> stay unset: no client certificate is asked for.
/// </summary>
internal static class SecurityMacros
{
    /// <summary>The TLS macros of a session: none without TLS.</summary>
    public static IEnumerable<(string Name, string? Value)> OfTls(TlsConnection? tls) =>
    [
        (HostMacros.TlsVersion, tls is null ? null : VersionName(tls.Protocol)),
        (HostMacros.Cipher, tls?.CipherSuite.ToString()),
        (HostMacros.CipherBits, tls is null ? null : BitsOf(tls.CipherSuite)),
    ];

    /// <summary>The AUTH macros of a session: none until a client authenticated.</summary>
    public static IEnumerable<(string Name, string? Value)> OfAuth(AuthenticationMethod? mechanism, string? user) =>
    [
        (HostMacros.AuthType, user is null ? null : MechanismName(mechanism)),
        (HostMacros.AuthAuthen, user),
    ];

    /// <summary>OpenSSL's name of a protocol version (<c>SSL_get_version</c>), as sendmail and Postfix give it.</summary>
    public static string? VersionName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => null, // older versions: .NET on Linux (OpenSSL 3's default level) negotiates none
    };

    /// <summary>
    /// The bits of the suite's bulk cipher (Postfix's <c>{cipher_bits}</c>, OpenSSL's "used bits"), read from its IANA
    /// name: AES_128 and AES_256, ChaCha20 (256), 3DES (112 effective); null for a suite named otherwise.
    /// </summary>
    public static string? BitsOf(TlsCipherSuite suite)
    {
        var name = suite.ToString();
        return name.Contains("_AES_256_", StringComparison.Ordinal) || name.Contains("_CHACHA20_", StringComparison.Ordinal) ? "256"
            : name.Contains("_AES_128_", StringComparison.Ordinal) ? "128"
            : name.Contains("_3DES_", StringComparison.Ordinal) ? "112"
            : null;
    }

    /// <summary>The SASL mechanism's name as the client gave it.</summary>
    public static string? MechanismName(AuthenticationMethod? mechanism) => mechanism switch
    {
        AuthenticationMethod.Plain => "PLAIN",
        AuthenticationMethod.Login => "LOGIN",
        _ => null,
    };
}
